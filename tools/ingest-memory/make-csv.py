# Writes the MNIST sample (samples/mnist, 10,000 digits) repeated `scale` times as a CSV: px0..px783 (0-255), label.
# Usage: python3 make-csv.py <samples/mnist> <scale> <out.csv>
import gzip, struct, sys
folder, scale, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
images = gzip.open(f"{folder}/images.idx3-ubyte.gz").read()[16:]
labels = gzip.open(f"{folder}/labels.idx1-ubyte.gz").read()[8:]
rows = [",".join(map(str, images[i * 784:(i + 1) * 784])) + f",{labels[i]}\n" for i in range(len(labels))]
with open(out, "w") as f:
    f.write(",".join(f"px{i}" for i in range(784)) + ",label\n")
    for _ in range(scale):
        f.writelines(rows)
