/**
 * A static `index.html` that shows each generated clip (animated GIF and a canvas player) beside
 * its spectrogram and plays video and audio together: the canvas draws PNG frame
 * ⌊audio.currentTime · fps⌋, a playhead moves over the spectrogram, and the GIF restarts when the
 * audio starts. No external resources; paths are relative to the HTML file.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ViewerClip {
  title: string;
  /** Video frame rate (frames per second). */
  fps: number;
  gif?: string;
  /** PNG frames in order, for the synchronised canvas player. */
  frames?: string[];
  /** Pixel size to show the canvas at (default: the PNG's own size). */
  displayWidth?: number;
  wav?: string;
  spectrogram?: string;
  caption?: string;
}

export interface ViewerOptions {
  title?: string;
  /** A loss-curve PNG to show at the top. */
  lossCurve?: string;
  /** Free text under the title. */
  note?: string;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `body{font-family:system-ui,sans-serif;background:#111;color:#ddd;margin:1.5em}
h1{font-size:1.3em}.clips{display:flex;flex-wrap:wrap;gap:1.2em}
figure{background:#1c1c1c;padding:.8em;margin:0;border-radius:6px}
.row{display:flex;gap:.6em;align-items:flex-start}
img,canvas{image-rendering:pixelated;display:block}.spec{position:relative}
.head{position:absolute;top:0;bottom:0;width:2px;background:#fff;opacity:.8;left:0}
audio{width:100%;margin-top:.5em}figcaption{font-size:.9em;margin-bottom:.4em}
.loss{background:#fff;margin-bottom:1em}`;

const SCRIPT = `for (const fig of document.querySelectorAll('figure[data-fps]')) {
  const fps = Number(fig.dataset.fps), frames = JSON.parse(fig.dataset.frames || '[]');
  const audio = fig.querySelector('audio'), canvas = fig.querySelector('canvas');
  const gif = fig.querySelector('img.gif'), spec = fig.querySelector('.spec'), head = fig.querySelector('.head');
  const imgs = frames.map((src) => { const i = new Image(); i.src = src; return i; });
  const duration = () => (audio && isFinite(audio.duration) ? audio.duration : frames.length / fps);
  let t0 = performance.now();
  const now = () => (audio ? audio.currentTime : ((performance.now() - t0) / 1000) % duration());
  function draw() {
    const t = now();
    if (canvas && imgs.length) {
      const k = Math.min(imgs.length - 1, Math.floor(t * fps));
      const im = imgs[k];
      if (im.complete && im.naturalWidth) {
        canvas.getContext('2d').imageSmoothingEnabled = false;
        canvas.getContext('2d').drawImage(im, 0, 0, canvas.width, canvas.height);
      }
    }
    if (head && spec) head.style.left = Math.min(1, t / duration()) * (spec.clientWidth - 2) + 'px';
  }
  function loop() { draw(); if (!audio || !audio.paused) requestAnimationFrame(loop); }
  if (imgs[0]) imgs[0].onload = () => { if (canvas) { canvas.width = canvas.width || imgs[0].naturalWidth; canvas.height = canvas.height || imgs[0].naturalHeight; } draw(); };
  if (audio) {
    audio.addEventListener('play', () => { if (gif) gif.src = gif.dataset.src + '?t=' + Date.now(); loop(); });
    audio.addEventListener('seeked', draw);
    audio.addEventListener('ended', draw);
  } else loop();
}
document.getElementById('playall')?.addEventListener('click', () => {
  for (const a of document.querySelectorAll('audio')) { a.currentTime = 0; a.play(); }
});`;

/** The viewer page as a string. */
export function viewerHtml(clips: ViewerClip[], o: ViewerOptions = {}): string {
  const title = o.title ?? 'avdit samples';
  const figs = clips.map((c) => {
    const frames = c.frames ?? [];
    const size = c.displayWidth ? ` style="width:${c.displayWidth}px"` : '';
    const parts = [
      frames.length ? `<canvas${size} width="0" height="0" title="synchronised player"></canvas>` : '',
      c.gif ? `<img class="gif" src="${esc(c.gif)}" data-src="${esc(c.gif)}"${size} alt="animated GIF">` : '',
      c.spectrogram ? `<div class="spec"><img src="${esc(c.spectrogram)}" alt="spectrogram"><div class="head"></div></div>` : '',
    ].filter(Boolean);
    return `<figure data-fps="${esc(String(Number(c.fps)))}" data-frames="${esc(JSON.stringify(frames))}">
<figcaption>${esc(c.title)}${c.caption ? `<br><small>${esc(c.caption)}</small>` : ''}</figcaption>
<div class="row">${parts.join('\n')}</div>
${c.wav ? `<audio controls preload="auto" src="${esc(c.wav)}"></audio>` : ''}
</figure>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head>
<body><h1>${esc(title)}</h1>
${o.note ? `<p>${esc(o.note)}</p>` : ''}
${o.lossCurve ? `<img class="loss" src="${esc(o.lossCurve)}" alt="loss curve">` : ''}
<p><button id="playall">play all</button></p>
<div class="clips">
${figs.join('\n')}
</div>
<script>
${SCRIPT}
</script>
</body></html>
`;
}

/** Write `dir/index.html`; returns its path. */
export function writeViewer(dir: string, clips: ViewerClip[], o: ViewerOptions = {}): string {
  const path = join(dir, 'index.html');
  writeFileSync(path, viewerHtml(clips, o));
  return path;
}
