/**
 * A progress line on stderr: step/total, a bar, the latest figures, it/s and ETA. On a terminal it
 * redraws in place; otherwise (CI, a log file) it prints a line at most every few seconds.
 */
export class Progress {
  #started = performance.now();
  #lastPrint = 0;
  #startStep: number;
  constructor(readonly label: string, readonly total: number, startStep = 0, readonly out: NodeJS.WriteStream = process.stderr) {
    this.#startStep = startStep;
  }

  update(step: number, figures: Record<string, number | string> = {}, force = false): void {
    const now = performance.now();
    const tty = this.out.isTTY === true;
    if (!force && now - this.#lastPrint < (tty ? 100 : 5000) && step < this.total) return;
    this.#lastPrint = now;
    const done = step - this.#startStep;
    const secs = (now - this.#started) / 1000;
    const rate = done > 0 ? done / secs : 0;
    const eta = rate > 0 ? (this.total - step) / rate : NaN;
    const width = 24;
    const filled = Math.round((width * step) / Math.max(1, this.total));
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const figs = Object.entries(figures).map(([k, v]) => `${k} ${typeof v === 'number' ? fmtNum(v) : v}`).join('  ');
    const line = `${this.label} ${bar} ${step}/${this.total}  ${figs}  ${rate >= 1 ? rate.toFixed(2) + ' it/s' : (1 / Math.max(rate, 1e-9)).toFixed(2) + ' s/it'}  ETA ${fmtTime(eta)}`;
    if (tty) this.out.write(`\r\x1b[K${line}`);
    else this.out.write(line + '\n');
  }

  done(): void {
    if (this.out.isTTY) this.out.write('\n');
  }
}

function fmtNum(v: number): string {
  return Math.abs(v) >= 100 || v === 0 ? v.toFixed(1) : v.toPrecision(4);
}

export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
