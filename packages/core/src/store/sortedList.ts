/**
 * An ordered set in sorted chunks (the layout of Python's sortedcontainers): insert, delete and seek cost
 * O(log n + chunk size), iteration from any position is in order. MemoryStore keeps one per exchange so that
 * paging through due connections does not sort the whole store on every page.
 */
export class SortedList<T> {
  readonly #compare: (a: T, b: T) => number
  readonly #chunkSize: number
  #chunks: T[][] = []
  #size = 0

  constructor(compare: (a: T, b: T) => number, chunkSize = 512) {
    this.#compare = compare
    this.#chunkSize = chunkSize
  }

  get size(): number {
    return this.#size
  }

  insert(value: T): void {
    if (this.#chunks.length === 0) {
      this.#chunks.push([value])
      this.#size = 1
      return
    }
    const chunkIndex = this.#chunkFor(value)
    const chunk = this.#chunks[chunkIndex] as T[]
    chunk.splice(this.#lowerBound(chunk, value), 0, value)
    this.#size++
    if (chunk.length > this.#chunkSize * 2) {
      this.#chunks.splice(chunkIndex, 1, chunk.slice(0, this.#chunkSize), chunk.slice(this.#chunkSize))
    }
  }

  /** Removes the element equal (by the comparator) to `value`. Resolves to whether one was there. */
  delete(value: T): boolean {
    if (this.#chunks.length === 0) return false
    const chunkIndex = this.#chunkFor(value)
    const chunk = this.#chunks[chunkIndex] as T[]
    const index = this.#lowerBound(chunk, value)
    if (index >= chunk.length || this.#compare(chunk[index] as T, value) !== 0) return false
    chunk.splice(index, 1)
    this.#size--
    if (chunk.length === 0) this.#chunks.splice(chunkIndex, 1)
    return true
  }

  /** The element at this position in order (0 is the smallest), or undefined past the end. */
  at(position: number): T | undefined {
    if (position < 0 || position >= this.#size) return undefined
    let rest = position
    for (const chunk of this.#chunks) {
      if (rest < chunk.length) return chunk[rest]
      rest -= chunk.length
    }
    return undefined
  }

  /** Elements in order, starting with the first that sorts strictly after `after` (or from the start). */
  *valuesAfter(after?: T): Generator<T> {
    let chunkIndex = 0
    let index = 0
    if (after !== undefined && this.#chunks.length > 0) {
      chunkIndex = this.#chunkFor(after)
      index = this.#upperBound(this.#chunks[chunkIndex] as T[], after)
    }
    for (; chunkIndex < this.#chunks.length; chunkIndex++, index = 0) {
      const chunk = this.#chunks[chunkIndex] as T[]
      for (; index < chunk.length; index++) yield chunk[index] as T
    }
  }

  /** The chunk whose range holds `value`: the last chunk whose first element is <= value. */
  #chunkFor(value: T): number {
    let low = 0
    let high = this.#chunks.length - 1
    while (low < high) {
      const middle = (low + high + 1) >> 1
      if (this.#compare((this.#chunks[middle] as T[])[0] as T, value) <= 0) low = middle
      else high = middle - 1
    }
    return low
  }

  #lowerBound(chunk: T[], value: T): number {
    let low = 0
    let high = chunk.length
    while (low < high) {
      const middle = (low + high) >> 1
      if (this.#compare(chunk[middle] as T, value) < 0) low = middle + 1
      else high = middle
    }
    return low
  }

  #upperBound(chunk: T[], value: T): number {
    let low = 0
    let high = chunk.length
    while (low < high) {
      const middle = (low + high) >> 1
      if (this.#compare(chunk[middle] as T, value) <= 0) low = middle + 1
      else high = middle
    }
    return low
  }
}
