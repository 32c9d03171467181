/**
 * Undo steps for half-done work (Incus's revert idea): each step that
 * changes something registers how to undo it; on failure they run in reverse
 * order, and on success they are dropped.
 */
export class Reverter {
  private readonly steps: Array<() => Promise<void> | void> = [];
  add(undo: () => Promise<void> | void): void {
    this.steps.push(undo);
  }
  /** Runs every undo step, newest first; an undo that fails does not stop the others. */
  async revert(): Promise<void> {
    while (this.steps.length) {
      try {
        await this.steps.pop()!();
      } catch {
        // best effort: the original error is what the caller reports
      }
    }
  }
  success(): void {
    this.steps.length = 0;
  }
}
