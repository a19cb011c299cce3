/*
 * Arcade frame decoding: the pure half of the play protocol (docs/protocol.md, "Frames").
 *
 * No DOM and no socket here: parse the 32-byte header, inflate the zlib payload, apply XOR
 * deltas and expand pixels to RGBA. The play page loads this as a classic script (it defines
 * `window.ArcadeFrames`); Node can `require()` it, so the functions can be tested alone.
 */
(function (root, factory) {
  "use strict";
  const api = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = api;
  } else {
    root.ArcadeFrames = api;
  }
})(typeof self !== "undefined" ? self : globalThis, function () {
  "use strict";

  // The same constants as games/engine/frameformat.py (the frame format).
  const HEADER_BYTES = 32;
  const KIND_KEYFRAME = 1;
  const KIND_DELTA = 2;
  const PIXELS_INDEXED = 0;
  const PIXELS_RGB = 1;
  const FLAG_TERMINATED = 1;
  const FLAG_TRUNCATED = 2;
  const FLAG_EPISODE_OVER = 4;

  // ImageData is RGBA bytes; writing whole pixels through a Uint32Array is several times
  // faster, but the byte order of a Uint32 depends on the platform.
  const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

  /** A frame that cannot be used; the caller drops it and asks for a keyframe. */
  class FrameError extends Error {
    constructor(message) {
      super(message);
      this.name = "FrameError";
    }
  }

  /** One opaque pixel as a Uint32 whose bytes in memory are R, G, B, A. */
  function packRgba(r, g, b) {
    if (LITTLE_ENDIAN) return (0xff000000 | (b << 16) | (g << 8) | r) >>> 0;
    return ((r << 24) | (g << 16) | (b << 8) | 0xff) >>> 0;
  }

  /**
   * Read the little-endian header at the start of a binary message.
   * @param {ArrayBuffer|ArrayBufferView} data the whole message
   */
  function parseHeader(data) {
    const view = ArrayBuffer.isView(data)
      ? new DataView(data.buffer, data.byteOffset, data.byteLength)
      : new DataView(data);
    if (view.byteLength < HEADER_BYTES) {
      throw new FrameError(
        `A frame needs a ${HEADER_BYTES}-byte header; got ${view.byteLength} bytes.`,
      );
    }
    const header = {
      kind: view.getUint8(0),
      pixelFormat: view.getUint8(1),
      width: view.getUint16(2, true),
      height: view.getUint16(4, true),
      flags: view.getUint16(6, true),
      frame: view.getUint32(8, true),
      inputSeq: view.getUint32(12, true),
      baseFrame: view.getUint32(16, true),
      score: view.getFloat64(20, true),
      lives: view.getInt16(28, true),
    };
    if (header.kind !== KIND_KEYFRAME && header.kind !== KIND_DELTA) {
      throw new FrameError(`Unknown frame kind ${header.kind}.`);
    }
    if (header.pixelFormat !== PIXELS_INDEXED && header.pixelFormat !== PIXELS_RGB) {
      throw new FrameError(`Unknown pixel format ${header.pixelFormat}.`);
    }
    if (header.width === 0 || header.height === 0) {
      throw new FrameError("A frame must be at least one pixel wide and high.");
    }
    return header;
  }

  function bytesPerPixel(pixelFormat) {
    return pixelFormat === PIXELS_RGB ? 3 : 1;
  }

  /** How many payload bytes a frame with this header inflates to. */
  function pixelBytes(header) {
    return header.width * header.height * bytesPerPixel(header.pixelFormat);
  }

  /** The compressed bytes after the header, without copying. */
  function payloadOf(data) {
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
    return bytes.subarray(HEADER_BYTES);
  }

  /** Inflate a zlib (RFC 1950) stream with the browser's own decompressor. */
  async function inflate(compressed) {
    const stream = new Blob([compressed]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  /**
   * Inflate a binary message's payload. A keyframe inflates to the frame's pixels (checked
   * against the header's size); a delta to a sparse list of changed 8-byte words, for
   * applyDelta.
   */
  async function decodePayload(data, header) {
    let pixels;
    try {
      pixels = await inflate(payloadOf(data));
    } catch (err) {
      throw new FrameError(`Frame ${header.frame} could not be inflated: ${err.message}`);
    }
    if (header.kind === KIND_DELTA) return pixels;
    if (pixels.length !== pixelBytes(header)) {
      throw new FrameError(
        `Frame ${header.frame} inflated to ${pixels.length} bytes; expected ${pixelBytes(header)}.`,
      );
    }
    return pixels;
  }

  /**
   * Apply a sparse delta to the frame it was made against, in place. Layout (little-endian):
   * u32 count, then count word indices (u16, or u32 when the frame has more than 65,536
   * 8-byte words), then count 8-byte words to XOR into the frame at those indices.
   */
  function applyDelta(target, delta) {
    if (delta.length < 4) throw new FrameError("A delta shorter than its count.");
    const view = new DataView(delta.buffer, delta.byteOffset, delta.byteLength);
    const count = view.getUint32(0, true);
    const wide = Math.ceil(target.length / 8) > 65536;
    const width = wide ? 4 : 2;
    const wordsAt = 4 + count * width;
    if (wordsAt + count * 8 !== delta.length) {
      throw new FrameError(`A delta of ${delta.length} bytes does not hold ${count} words.`);
    }
    for (let i = 0; i < count; i++) {
      const word = wide ? view.getUint32(4 + i * 4, true) : view.getUint16(4 + i * 2, true);
      const at = word * 8;
      if (at >= target.length) throw new FrameError("A delta names a word past the frame.");
      const from = wordsAt + i * 8;
      const end = Math.min(8, target.length - at);
      for (let b = 0; b < end; b++) target[at + b] ^= delta[from + b];
    }
    return target;
  }

  /** Decode hello's palette: base64 of 256 RGB triples, into 256 packed RGBA pixels. */
  function paletteFromBase64(base64) {
    const binary = atob(base64);
    if (binary.length < 256 * 3) {
      throw new FrameError(`The palette has ${binary.length} bytes; expected ${256 * 3}.`);
    }
    const palette = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      palette[i] = packRgba(
        binary.charCodeAt(3 * i),
        binary.charCodeAt(3 * i + 1),
        binary.charCodeAt(3 * i + 2),
      );
    }
    return palette;
  }

  /**
   * Add colours learned during an episode (a `palette` message) to a palette, in place.
   * @param {Uint32Array} palette 256 packed RGBA pixels
   * @param {Array<[number, number, number, number]>} entries [index, r, g, b] each
   */
  function applyPaletteEntries(palette, entries) {
    if (!Array.isArray(entries)) throw new FrameError("A palette message needs a list of entries.");
    for (const entry of entries) {
      const [index, r, g, b] = Array.isArray(entry) ? entry : [];
      if (!(index >= 0 && index < 256)) {
        const got = JSON.stringify(entry);
        throw new FrameError(`A palette entry must be [index, r, g, b], not ${got}.`);
      }
      palette[index] = packRgba(r & 255, g & 255, b & 255);
    }
    return palette;
  }

  /** Shades of grey, for indexed frames when the server sent no palette. */
  function greyPalette() {
    const palette = new Uint32Array(256);
    for (let i = 0; i < 256; i++) palette[i] = packRgba(i, i, i);
    return palette;
  }

  /**
   * Expand a frame's pixels into an ImageData's buffer, viewed as one Uint32 a pixel.
   * @param {Uint8Array} pixels indexed (1 byte a pixel) or rgb (3 bytes a pixel)
   * @param {number} pixelFormat PIXELS_INDEXED or PIXELS_RGB
   * @param {Uint32Array} out one element a pixel
   * @param {Uint32Array} palette used for indexed pixels
   */
  function toRgba(pixels, pixelFormat, out, palette) {
    const n = out.length;
    if (pixelFormat === PIXELS_INDEXED) {
      for (let i = 0; i < n; i++) out[i] = palette[pixels[i]];
    } else if (LITTLE_ENDIAN) {
      for (let i = 0, j = 0; i < n; i++, j += 3) {
        out[i] = 0xff000000 | (pixels[j + 2] << 16) | (pixels[j + 1] << 8) | pixels[j];
      }
    } else {
      for (let i = 0, j = 0; i < n; i++, j += 3) {
        out[i] = (pixels[j] << 24) | (pixels[j + 1] << 16) | (pixels[j + 2] << 8) | 0xff;
      }
    }
    return out;
  }

  /** Why an episode ended, from a frame's flags; null while it goes on. */
  function endReason(flags) {
    if (!(flags & FLAG_EPISODE_OVER)) return null;
    if (flags & FLAG_TERMINATED) return "terminated";
    if (flags & FLAG_TRUNCATED) return "truncated";
    return "ended";
  }

  return Object.freeze({
    HEADER_BYTES,
    KIND_KEYFRAME,
    KIND_DELTA,
    PIXELS_INDEXED,
    PIXELS_RGB,
    FLAG_TERMINATED,
    FLAG_TRUNCATED,
    FLAG_EPISODE_OVER,
    FrameError,
    packRgba,
    parseHeader,
    pixelBytes,
    payloadOf,
    inflate,
    decodePayload,
    applyDelta,
    paletteFromBase64,
    applyPaletteEntries,
    greyPalette,
    toRgba,
    endReason,
  });
});
