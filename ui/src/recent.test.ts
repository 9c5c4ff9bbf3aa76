import { expect, test } from 'vitest';
import { MAX_RECENT, forget, recentSessions, remember, saveName, savedName } from './recent';

test('the name and the recent sessions are remembered, newest first, each folder once', () => {
  localStorage.clear();
  expect(savedName()).toBeNull();
  saveName('ada');
  expect(savedName()).toBe('ada');

  remember({ kind: 'host', path: '/home/ada/project' });
  remember({ kind: 'join', path: '/home/ada/bobs', link: 'nitroide://join?s=1', hostName: 'bob' });
  remember({ kind: 'host', path: '/home/ada/project' });
  expect(recentSessions().map((r) => r.path)).toEqual(['/home/ada/project', '/home/ada/bobs']);
  for (let i = 0; i < 20; i++) remember({ kind: 'host', path: `/p${i}` });
  expect(recentSessions()).toHaveLength(MAX_RECENT);
  expect(recentSessions()[0].path).toBe('/p19');
  forget({ kind: 'host', path: '/p19' });
  expect(recentSessions()[0].path).toBe('/p18');
});

test('a damaged list reads as empty', () => {
  localStorage.setItem('nitroide.recent', '{not json');
  expect(recentSessions()).toEqual([]);
  localStorage.setItem('nitroide.recent', JSON.stringify([{ kind: 'join', path: '/x' }, { kind: 'host', path: '/y' }]));
  expect(recentSessions()).toEqual([{ kind: 'host', path: '/y' }]);
});
