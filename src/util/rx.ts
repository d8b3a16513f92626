/**
 * The parts of rxjs the library uses, each from its own module (`rxjs/internal/*`, which rxjs 7
 * lists in its package exports) rather than from the root `rxjs`. Under node the root is
 * CommonJS that requires every operator and creation function: ~220 modules and ~1 MiB of heap
 * where these need ~35 modules. They are the very objects the root exports, so a host's
 * `rxjs` operators, and `instanceof Observable`, work on what the library hands out
 * (test/util/rx.test.ts holds them to that, and fails if a path moves: rxjs's maintainers treat
 * `internal` as non-public, not promised across versions; package.json allows rxjs 7 only).
 */
export { BehaviorSubject } from 'rxjs/internal/BehaviorSubject';
export { firstValueFrom } from 'rxjs/internal/firstValueFrom';
export { Observable } from 'rxjs/internal/Observable';
export { race } from 'rxjs/internal/observable/race';
export { filter } from 'rxjs/internal/operators/filter';
export { map } from 'rxjs/internal/operators/map';
export { Subject } from 'rxjs/internal/Subject';
