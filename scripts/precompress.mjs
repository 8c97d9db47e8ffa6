// Writes brotli (.br, quality 11) and gzip (.gz, level 9) copies of the
// built app's files next to them, so the server sends them compressed once
// instead of compressing on every request. Node's own zlib: no packages.
import { readdirSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const dir = process.argv[2] ?? "dist";
const worth = /\.(wasm|js|css|svg|json)$/;
let saved = 0;
for (const name of readdirSync(dir)) {
  const path = join(dir, name);
  if (!worth.test(name) || !statSync(path).isFile()) continue;
  const raw = readFileSync(path);
  const br = brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
  writeFileSync(path + ".br", br);
  writeFileSync(path + ".gz", gzipSync(raw, { level: 9 }));
  saved += raw.length - br.length;
  console.log(`${name}: ${raw.length} B, brotli ${br.length} B`);
}
console.log(`precompressed ${dir}: ${saved} B less to send with brotli`);
