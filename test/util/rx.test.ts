import * as rxjs from 'rxjs';
import { describe, expect, it } from 'vitest';
import * as rx from '../../src/util/rx.ts';

describe('src/util/rx', () => {
  it('exports the very objects the root rxjs exports', () => {
    const names = Object.keys(rx);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(rx[name as keyof typeof rx], name).toBe(rxjs[name as keyof typeof rxjs]);
  });

  it('hands out observables that root rxjs operators and instanceof accept', async () => {
    const subject = new rx.BehaviorSubject(1);
    expect(subject).toBeInstanceOf(rxjs.Observable);
    const next = rxjs.firstValueFrom(
      subject.pipe(
        rxjs.filter((value) => value > 1),
        rxjs.map((value) => value * 10),
      ),
    );
    subject.next(2);
    await expect(next).resolves.toBe(20);
  });
});
