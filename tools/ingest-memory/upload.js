// Streams one CSV file to IngestionService.Upload in 256 KiB chunks (as the CLI does) and prints the reply.
// Usage: node upload.js <protos dir> <host:port> <dataset> <file.csv>
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const fs = require('fs');
const path = require('path');
const [protos, address, dataset, file] = process.argv.slice(2);
const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(protos, 'ingestion.proto'), { keepCase: false, longs: String, defaults: true }));
const client = new pkg.bigdataai.ingestion.v1.IngestionService(address, grpc.credentials.createInsecure(),
  { 'grpc.max_send_message_length': 8 << 20 });
const started = Date.now();
const call = client.upload({ deadline: Date.now() + 3600e3 }, (error, reply) => {
  if (error) { console.error(`upload failed: ${error.code} ${error.details}`); process.exit(1); }
  const seconds = (Date.now() - started) / 1000;
  console.log(JSON.stringify({ rows: reply.dataset.rows, shards: reply.dataset.shards, version: reply.dataset.version, seconds }));
});
call.write({ header: { dataset, format: 'DATASET_FORMAT_CSV', files: ['data'] } });
const stream = fs.createReadStream(file, { highWaterMark: 256 << 10 });
stream.on('data', chunk => { if (!call.write({ chunk: { file: 'data', data: chunk } })) { stream.pause(); call.once('drain', () => stream.resume()); } });
stream.on('end', () => call.end());
