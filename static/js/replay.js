/*
 * A player's replay of their own episode: each stored chunk's frames come as one PNG strip,
 * stacked top to bottom, from the player's own strip view; the next strip is fetched ahead.
 */
(() => {
  "use strict";

  const canvas = document.getElementById("playback");
  const data = JSON.parse(document.getElementById("playback-data").textContent);
  const context = canvas.getContext("2d");
  const [height, width] = data.shape;
  const stripUrl = (index) => canvas.dataset.strips.replace(/0\.png$/, `${index}.png`);
  const strips = new Map();
  const el = {
    play: document.getElementById("play"),
    seek: document.getElementById("seek"),
    shown: document.getElementById("shown"),
  };
  let frame = 0;
  let timer = null;

  function fit() {
    const room = canvas.parentElement.clientWidth;
    const scale = Math.max(1, Math.min(3, room / width));
    canvas.style.width = `${width * scale}px`;
    canvas.style.height = `${height * scale}px`;
  }

  function chunkOf(n) {
    return data.chunks.find((c) => n >= c.first_frame && n < c.first_frame + c.n_frames);
  }

  function strip(chunk) {
    if (!strips.has(chunk.index)) {
      const image = new Image();
      image.src = stripUrl(chunk.index);
      strips.set(chunk.index, image);
    }
    return strips.get(chunk.index);
  }

  function draw() {
    const chunk = chunkOf(frame);
    if (!chunk) return;
    const image = strip(chunk);
    const next = data.chunks[data.chunks.indexOf(chunk) + 1];
    if (next) strip(next);
    const shown = frame;
    const paint = () => {
      if (shown !== frame) return; // a later frame was asked for meanwhile
      const y = (frame - chunk.first_frame) * height;
      context.drawImage(image, 0, y, width, height, 0, 0, width, height);
    };
    if (image.complete && image.naturalWidth) paint();
    else image.addEventListener("load", paint, { once: true });
    el.shown.value = String(frame);
    el.seek.value = String(frame);
  }

  function go(n) {
    frame = Math.max(0, Math.min(data.frames - 1, n));
    draw();
  }

  function play() {
    if (frame >= data.frames - 1) go(0);
    el.play.textContent = "Pause";
    timer = setInterval(() => {
      if (frame >= data.frames - 1) pause();
      else go(frame + 1);
    }, 1000 / data.fps);
  }

  function pause() {
    clearInterval(timer);
    timer = null;
    el.play.textContent = "Play";
  }

  el.play.addEventListener("click", () => (timer ? pause() : play()));
  document.getElementById("step").addEventListener("click", () => { pause(); go(frame + 1); });
  document.getElementById("step-back").addEventListener("click", () => { pause(); go(frame - 1); });
  el.seek.addEventListener("input", (event) => { pause(); go(Number(event.target.value)); });
  window.addEventListener("resize", fit);
  fit();
  draw();
})();
