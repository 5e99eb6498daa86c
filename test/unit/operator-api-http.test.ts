import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  DeviceAlreadyExistsError,
  DeviceNotFoundError,
  ForbiddenError,
  ValidationError,
} from '../../functions/domain/errors';
import { roleAllows, strongestRole } from '../../functions/domain/operator-role';
import { callerGroups, errorResponse } from '../../functions/operator-api/http';
import { ListDevicesQuery, RegisterDeviceRequest } from '../../functions/operator-api/schemas';
import { parseInput, parseJsonBody } from '../../functions/shared/parse';

const withGroups = (claim: unknown) =>
  ({
    requestContext: { authorizer: { claims: { 'cognito:groups': claim } } },
  }) as unknown as APIGatewayProxyEvent;

describe('callerGroups', () => {
  it.each([
    ['[operator viewer]', ['operator', 'viewer']],
    ['operator,viewer', ['operator', 'viewer']],
    [['admin'], ['admin']],
    [undefined, []],
  ])('reads %j', (claim, groups) => {
    expect(callerGroups(withGroups(claim))).toEqual(groups);
  });
});

describe('operator roles', () => {
  it('takes the strongest role and lets it do what weaker roles may', () => {
    const held = strongestRole(['viewer', 'admin', 'unrelated']);
    expect(held).toBe('admin');
    expect(roleAllows(held, 'operator')).toBe(true);
  });

  it('refuses a weaker role and an identity with none', () => {
    expect(roleAllows('viewer', 'operator')).toBe(false);
    expect(roleAllows(strongestRole(['staff']), 'viewer')).toBe(false);
  });
});

describe('errorResponse', () => {
  it.each([
    [new ValidationError('bad', [{ field: 'site', message: 'Required' }]), 400],
    [new DeviceAlreadyExistsError('d'), 409],
    [new DeviceNotFoundError('d'), 404],
    [new ForbiddenError('no'), 403],
  ])('maps %s', (error, status) => {
    expect(errorResponse(error).statusCode).toBe(status);
  });

  it('answers 500 without leaking the message of an unknown error', () => {
    const response = errorResponse(new Error('secret connection string'));
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('secret');
  });
});

describe('RegisterDeviceRequest', () => {
  it('names each missing field', () => {
    expect(() => parseJsonBody(RegisterDeviceRequest, JSON.stringify({ deviceId: 'gw-1' }))).toThrow(
      expect.objectContaining({
        issues: expect.arrayContaining([
          expect.objectContaining({ field: 'hardwareType' }),
          expect.objectContaining({ field: 'site' }),
          expect.objectContaining({ field: 'region' }),
        ]),
      }),
    );
  });

  it('reads a base64-encoded body', () => {
    const body = Buffer.from(JSON.stringify({ deviceId: 'gw-1', hardwareType: 'h', site: 's', region: 'r' }));
    expect(parseJsonBody(RegisterDeviceRequest, body.toString('base64'), true).deviceId).toBe('gw-1');
  });
});

describe('ListDevicesQuery', () => {
  it('defaults the page size to 25', () => {
    expect(parseInput(ListDevicesQuery, {}, 'query').limit).toBe(25);
  });
});
