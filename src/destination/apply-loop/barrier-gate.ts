import { formatPosition, isCovered, type Position } from '../../model/position.ts';

/**
 * Where the partitions meet at barriers. A barrier is applied by the last partition to reach it; the others stay
 * paused there until it is applied. Barriers at or below the applied one were applied before (a replay).
 */
export class BarrierGate {
  readonly #arrived = new Map<string, Set<number>>();
  readonly #parked = new Set<number>();
  #applied: Position | undefined;

  constructor(
    private readonly partitions: number,
    applied: Position | undefined,
  ) {
    this.#applied = applied;
  }

  get applied(): Position | undefined {
    return this.#applied;
  }

  isApplied(pos: Position): boolean {
    return isCovered(pos, this.#applied);
  }

  /** Partition `p` reached the barrier at `pos`: true when it is the last one (it applies it), else it parks. */
  arrive(pos: Position, p: number): boolean {
    const key = formatPosition(pos);
    let set = this.#arrived.get(key);
    if (!set) this.#arrived.set(key, (set = new Set()));
    set.add(p);
    if (set.size < this.partitions) {
      this.#parked.add(p);
      return false;
    }
    this.#arrived.delete(key);
    return true;
  }

  /** The barrier at `pos` is applied: the parked partitions to resume. */
  markApplied(pos: Position): number[] {
    this.#applied = pos;
    const parked = [...this.#parked];
    this.#parked.clear();
    return parked;
  }
}
