import { describe, expect, it } from 'vitest';
import { clusterPaths, MAX_PATH_COMPONENT_BYTES, namePreview, pathComponentProblem } from '../../src/helix/paths.js';

describe('pathComponentProblem (ZooKeeper PathUtils.validatePath, per component)', () => {
  it.each([
    ['events__0__1__20240101T0000Z', null],
    ['events_0', null],
    ['1a2b3c4d5e6f7a8b', null],
    ['...', null],
    ['.hidden', null],
    ['a..b', null],
    ['a b', null],
    ['seg-é-ü', null],
    ['~!@#$%^&*()', null],
    ['x'.repeat(MAX_PATH_COMPONENT_BYTES), null],
    ['', 'empty name'],
    ['.', 'relative path component "."'],
    ['..', 'relative path component ".."'],
    ['a/b', 'contains "/" at 1'],
    ['x/../y', 'contains "/" at 1'],
    ['/', 'contains "/" at 0'],
    ['a\u0000b', 'contains a NUL character at 1'],
    ['a\u0001', 'contains character U+0001 at 1, which ZooKeeper refuses'],
    ['a\nb', 'contains character U+000A at 1, which ZooKeeper refuses'],
    ['\u001f', 'contains character U+001F at 0, which ZooKeeper refuses'],
    ['\u007f', 'contains character U+007F at 0, which ZooKeeper refuses'],
    ['\u009f', 'contains character U+009F at 0, which ZooKeeper refuses'],
    ['s\u{1F600}', 'contains character U+D83D at 1, which ZooKeeper refuses'],
    ['\ue000', 'contains character U+E000 at 0, which ZooKeeper refuses'],
    ['\ufff0', 'contains character U+FFF0 at 0, which ZooKeeper refuses'],
    ['\uffff', 'contains character U+FFFF at 0, which ZooKeeper refuses'],
    [
      'x'.repeat(MAX_PATH_COMPONENT_BYTES + 1),
      `${MAX_PATH_COMPONENT_BYTES + 1} bytes long (at most ${MAX_PATH_COMPONENT_BYTES})`,
    ],
    [
      'é'.repeat(MAX_PATH_COMPONENT_BYTES / 2 + 1),
      `${MAX_PATH_COMPONENT_BYTES + 2} bytes long (at most ${MAX_PATH_COMPONENT_BYTES})`,
    ],
  ])('%j -> %j', (name, problem) => {
    expect(pathComponentProblem(name)).toBe(problem);
  });

  it('accepts every name the path templates make of valid components', () => {
    const p = clusterPaths('c');
    for (const path of [
      p.segmentMetadata('t_REALTIME', 't__0__1__20240101T0000Z'),
      p.currentState('Server_h_8098', '1a2b', 't_OFFLINE'),
    ]) {
      for (const part of path.split('/').slice(1)) expect(pathComponentProblem(part)).toBeNull();
    }
  });
});

describe('namePreview', () => {
  it.each([
    ['abc', '"abc"'],
    ['a\u0000b', '"a\\u0000b"'],
    ['x'.repeat(130), `"${'x'.repeat(120)}"... (130 chars)`],
  ])('%j -> %s', (name, preview) => {
    expect(namePreview(name)).toBe(preview);
  });
});
