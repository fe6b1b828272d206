/**
 * A progress line on stderr: step/total, a bar, the latest figures, it/s and ETA. On a terminal it
 * redraws in place; otherwise (CI, a log file) it prints a line at most every few seconds.
 */
export class Progress {
  #started = performance.now();
  #lastPrint = 0;
  #startStep: number;
  /**
   * With `deadline` (a performance.now() time), the bar shows the time budget instead of steps;
   * `unit` names what a step is in the rate (it/s, or s/it when slower).
   */
  constructor(readonly label: string, readonly total: number, startStep = 0, readonly out: NodeJS.WriteStream = process.stderr, readonly deadline?: number, readonly unit = 'it') {
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
    const timed = this.deadline !== undefined;
    const left = timed ? Math.max(0, (this.deadline! - now) / 1000) : rate > 0 ? (this.total - step) / rate : NaN;
    const frac = timed ? secs / Math.max(1e-9, secs + left) : step / Math.max(1, this.total);
    const width = 24;
    const filled = Math.min(width, Math.round(width * frac));
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const figs = Object.entries(figures).map(([k, v]) => `${k} ${typeof v === 'number' ? fmtNum(v) : v}`).join('  ');
    const speed = rate >= 1 ? `${rate.toFixed(2)} ${this.unit}/s` : `${(1 / Math.max(rate, 1e-9)).toFixed(2)} s/${this.unit}`;
    const line = `${this.label} ${bar} ${timed ? `step ${step}` : `${step}/${this.total}`}  ${figs}  ${speed}  ${timed ? 'time left' : 'ETA'} ${fmtTime(left)}`;
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
