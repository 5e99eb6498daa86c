import { describe, expect, it } from 'vitest';
import * as z from '../../contract/zod-mini';
import { ValidationError } from '../../functions/domain/errors';
import { ListDevicesQuery } from '../../functions/operator-api/schemas';
import { parseInput } from '../../functions/shared/parse';

describe('zod-mini (the zod for Lambda paths)', () => {
  it("gives classic zod's English messages, each naming its field", () => {
    const parse = () => parseInput(ListDevicesQuery, { limit: '0', extra: 1 }, 'query');

    expect(parse).toThrow(ValidationError);
    expect(parse).toThrow(
      'Invalid query: limit: Too small: expected number to be >=1; (root): Unrecognized key: "extra"',
    );
  });

  it('keeps the messages a schema sets itself', () => {
    const Body = z.strictObject({ size: z.number({ error: 'size is required' }) });

    expect(() => parseInput(Body, {}, 'body')).toThrow('Invalid body: size: size is required');
  });
});
