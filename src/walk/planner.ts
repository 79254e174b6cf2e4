/**
 * The keyset walk of a table, planned once for every host (the Grouparoo table source and the
 * CloudQuery sync): which phases a walk has, the range each phase reads from the position kept
 * between pages, and what comes after a page. It knows no database and no host: a host reads the
 * pages (through its dialect's keyset SQL) and keeps the position in its own store.
 *
 * - no key: one read of the whole relation ("all"); nothing can resume in the middle of it.
 * - a key, no watermark: every row by key ("keys").
 * - a key and a watermark (incremental): first the rows whose watermark is NULL, by key, after the
 *   last such key ("nulls"; skipped when the watermark is itself a key column, which is never
 *   NULL); then the rest by (watermark, the other key columns) after the last tuple ("values").
 *   Ties on the watermark, however many, are walked by key: no row twice, none skipped. A page of
 *   "values" is read below the commit horizon, when the host can give one.
 * Rows with NULL in any column of the order are not read by a phase (see postgres/keyset.ts).
 */

export type WalkPhase = "all" | "keys" | "nulls" | "values";

/** The order in which the phases of an incremental walk come. */
const INCREMENTAL_PHASES: WalkPhase[] = ["nulls", "values"];

/**
 * When a phase is known to be done:
 * - "short page": a page that came back with fewer rows than asked drained it (a host that reads
 *   the whole walk in one call, and so can move on without storing that the phase ended);
 * - "empty page": only a page with no row (a host that stops after each page and keeps just the
 *   phase and position between calls: the phase is read again, and ends when nothing is left).
 */
export type PhaseEnd = "short page" | "empty page";

export interface WalkShape {
  /** the columns that identify a row, most significant first; empty: the relation has no key */
  key: string[];
  /** the column of an incremental walk (the high watermark); absent: a full walk */
  watermark?: string;
  phaseEnd: PhaseEnd;
}

/** Where each phase stands: the text of the order columns of the last row read in it. */
export interface WalkPosition {
  keys?: string[];
  nulls?: string[];
  values?: string[];
  /**
   * a watermark without a key (the original plugin's high watermark): "values" starts at or after
   * it, so that nothing is lost; used until `values` is known
   */
  valuesFrom?: string;
}

/** What one page of a phase reads: the fields of a keyset range (postgres/keyset.ts). */
export interface PageRange {
  phase: WalkPhase;
  /** keyset order, most significant first; empty for "all" */
  orderBy: string[];
  whereNull?: string[];
  after?: string[];
  atOrAfterFirst?: string;
  /** the commit horizon of this page: only rows whose `orderBy[0]` is below it */
  below?: string;
}

/** What the host does next: read another page of the same phase, begin the next phase, or stop. */
export type WalkStep = "page" | "phase" | "done";

/** Gives the commit horizon before a page, or undefined when there is none for this walk. */
export type HorizonHook = () => Promise<string | undefined>;

/** The phases of a walk of this shape, in order. */
export function walkPhases(shape: WalkShape): WalkPhase[] {
  if (shape.key.length === 0) return ["all"];
  if (shape.watermark === undefined) return ["keys"];
  // a key column is never NULL: no rows for a NULL-watermark phase
  return shape.key.includes(shape.watermark) ? ["values"] : INCREMENTAL_PHASES;
}

/** The order of the "values" phase: the watermark, then the key columns that are not it. */
function valuesOrder(shape: WalkShape, watermark: string): string[] {
  return [watermark, ...shape.key.filter((k) => k !== watermark)];
}

export class KeysetWalk {
  readonly phases: WalkPhase[];
  readonly position: WalkPosition;
  private current: number;

  /**
   * `position`: where the phases stood when the walk was saved; a phase's position whose width is
   * not that phase's order belongs to another walk (another key), and that phase starts over.
   * `phase`: the phase a run in progress stands in. A phase of another kind of walk (a schedule
   * switched between incremental and full mid-run) is not resumed: see `belongs`.
   */
  constructor(readonly shape: WalkShape, position: WalkPosition = {}, phase?: WalkPhase) {
    this.phases = walkPhases(shape);
    this.current = phase === undefined ? 0 : this.resumeIndex(phase);
    this.position = {};
    for (const saved of ["keys", "nulls", "values"] as const) {
      const after = position[saved];
      if (this.phases.includes(saved) && after?.length === this.range(saved).orderBy.length) this.position[saved] = after;
    }
    if (position.valuesFrom !== undefined && this.phases.includes("values")) this.position.valuesFrom = position.valuesFrom;
  }

  /** Whether a saved phase belongs to a walk of this shape (an incremental phase to an incremental walk, ...). */
  static belongs(shape: WalkShape, phase: WalkPhase): boolean {
    const phases = walkPhases(shape);
    return phases.includes(phase) || (INCREMENTAL_PHASES.includes(phase) && phases.some((p) => INCREMENTAL_PHASES.includes(p)));
  }

  /** A saved incremental phase that this shape skips resumes at the next phase it has. */
  private resumeIndex(phase: WalkPhase): number {
    if (!KeysetWalk.belongs(this.shape, phase)) return 0;
    const at = INCREMENTAL_PHASES.indexOf(phase);
    const index = this.phases.findIndex((p) => p === phase || (at >= 0 && INCREMENTAL_PHASES.indexOf(p) > at));
    return index < 0 ? 0 : index;
  }

  get phase(): WalkPhase {
    return this.phases[this.current];
  }

  /** The range of a phase from the position (no horizon): for a page, or for an estimate of what is left. */
  range(phase: WalkPhase = this.phase, below?: string): PageRange {
    const { shape, position } = this;
    switch (phase) {
      case "all":
        return { phase, orderBy: [] };
      case "keys":
        return { phase, orderBy: shape.key, after: position.keys };
      case "nulls":
        return { phase, orderBy: shape.key, whereNull: [shape.watermark as string], after: position.nulls };
      case "values": {
        const range: PageRange = { phase, orderBy: valuesOrder(shape, shape.watermark as string), below };
        if (position.values) range.after = position.values;
        else if (position.valuesFrom !== undefined) range.atOrAfterFirst = position.valuesFrom;
        return range;
      }
    }
  }

  /** The ranges of the phase in progress and of those after it. */
  remaining(): PageRange[] {
    return this.phases.slice(this.current).map((phase) => this.range(phase));
  }

  /** Whether a page of the phase in progress is read below a commit horizon. */
  get needsHorizon(): boolean {
    return this.phase === "values";
  }

  /**
   * The range of the next page: the position, and the commit horizon when the phase needs one
   * (asked of `horizon` then, and only then).
   */
  async pageRange(horizon?: HorizonHook): Promise<PageRange> {
    const below = this.needsHorizon && horizon ? await horizon() : undefined;
    return this.range(this.phase, below);
  }

  /** Moves the position of the phase in progress past a row (the text of its order columns). */
  advance(last: string[]): void {
    const phase = this.phase;
    if (phase === "all") return; // one read, no position
    this.position[phase] = last;
  }

  /**
   * After a page that read `rows` rows of the `limit` asked (the position already advanced past
   * its last row): whether the phase goes on, the next begins, or the walk is done.
   */
  afterPage(rows: number, limit: number): WalkStep {
    const drained = this.phase === "all" || rows === 0 || (this.shape.phaseEnd === "short page" && rows < limit);
    if (!drained) return "page";
    if (this.current + 1 >= this.phases.length) return "done";
    this.current++;
    return "phase";
  }
}
