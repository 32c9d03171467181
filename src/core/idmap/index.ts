/**
 * The id-map core: ranges and sets of ranges, user-namespace id maps and
 * their composition, the text and JSON forms of maps, /etc/subuid and
 * /etc/subgid, and the allocation of user blocks and container slices.
 * Pure: no I/O.
 */
export * from './range.ts';
export * from './map.ts';
export * from './formats.ts';
export * from './subid.ts';
export * from './allocate.ts';
export * from './reserved.ts';
