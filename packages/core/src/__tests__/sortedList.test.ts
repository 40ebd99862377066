import { describe, expect, it } from 'vitest'
import { SortedList } from '../store/sortedList.js'

describe('SortedList', () => {
  it('stays sorted through random inserts and deletes across many chunks', () => {
    const list = new SortedList<number>((a, b) => a - b, 4)
    const model: number[] = []
    let seed = 42
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed
    }
    for (let step = 0; step < 3_000; step++) {
      const value = random() % 500
      if (random() % 3 === 0 && model.length > 0) {
        const victim = model[random() % model.length] as number
        expect(list.delete(victim)).toBe(true)
        model.splice(model.indexOf(victim), 1)
      } else if (!model.includes(value)) {
        list.insert(value)
        model.push(value)
      }
    }
    model.sort((a, b) => a - b)
    expect([...list.valuesAfter()]).toEqual(model)
    expect(list.size).toBe(model.length)
    const pivot = model[Math.floor(model.length / 2)] as number
    expect([...list.valuesAfter(pivot)]).toEqual(model.filter((value) => value > pivot))
    expect([...list.valuesAfter(pivot + 0.5)]).toEqual(model.filter((value) => value > pivot + 0.5))
    expect(list.delete(100_000)).toBe(false)
  })
})

describe('SortedList.at', () => {
  it('finds the element at a position across chunks', () => {
    const list = new SortedList<number>((a, b) => a - b, 4)
    for (const value of [50, 10, 40, 20, 30, 60, 70, 80, 90, 0]) list.insert(value)
    expect([0, 3, 9].map((position) => list.at(position))).toEqual([0, 30, 90])
    expect(list.at(10)).toBeUndefined()
    expect(list.at(-1)).toBeUndefined()
  })
})
