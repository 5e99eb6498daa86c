/**
 * zod/mini, the tree-shakable build of zod (about 20 KB in a Lambda bundle, where the classic
 * API costs 90 KB and about 8 ms of cold start), with the English messages that classic zod loads
 * by itself: without them every issue would only say "Invalid input". Schemas on Lambda paths
 * import zod from here; they check the same way and give the same messages as classic ones.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
