import { createHash, createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AwsApiError, MAX_ATTEMPTS } from '../../functions/shared/aws-api/aws-service';
import { IotApi } from '../../functions/shared/aws-api/iot';
import { IotDataApi } from '../../functions/shared/aws-api/iot-data';
import { KmsApi } from '../../functions/shared/aws-api/kms';
import { LambdaApi } from '../../functions/shared/aws-api/lambda';
import { S3Api } from '../../functions/shared/aws-api/s3';
import { SfnApi } from '../../functions/shared/aws-api/sfn';

/**
 * The signed-fetch clients (functions/shared/aws-api) against a stubbed fetch: what each request
 * looks like on the wire, and a SigV4 check written here from the specification, independent of
 * the SDK's signer, so a request whose URL and signature disagree fails.
 */
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

beforeEach(() => {
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', SECRET);
  vi.stubEnv('AWS_SESSION_TOKEN', 'session-token');
  vi.stubEnv('AWS_ENDPOINT_URL', undefined);
  vi.stubEnv('AWS_ENDPOINT_URL_S3', undefined);
  vi.stubEnv('IOT_DATA_ENDPOINT', undefined);
  // No waiting between attempts.
  vi.spyOn(Math, 'random').mockReturnValue(0);
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

interface Sent {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

/** Answers each fetch with the next response (an Error is thrown), and records what was sent. */
function stubFetch(...answers: (Response | Error)[]): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    sent.push({
      url: new URL(url),
      method: init.method ?? 'GET',
      headers: init.headers as Record<string, string>,
      body: init.body === undefined ? undefined : Buffer.from(init.body as string | Uint8Array).toString(),
    });
    const answer = answers.shift() ?? new Response('');
    if (answer instanceof Error) throw answer;
    return answer;
  });
  return sent;
}

const hex = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

interface Signature {
  readonly credential: string;
  readonly date: string;
  readonly signedHeaders: string;
  readonly signature: string;
}

/**
 * SigV4, from the specification: the canonical request of what was sent, signed with SECRET. S3
 * signs the path as sent; other services sign each segment encoded once more. `headers` are the
 * sent headers (for a presigned URL, only the host).
 */
function expectedSignature(
  method: string,
  url: URL,
  headers: Record<string, string>,
  { credential, date, signedHeaders }: Omit<Signature, 'signature'>,
  payloadHash: string,
  s3: boolean,
): string {
  const path = s3
    ? url.pathname
    : url.pathname
        .split('/')
        .map((segment) => rfc3986(segment))
        .join('/');
  const query = [...url.searchParams]
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`)
    .sort()
    .join('&');
  const canonicalHeaders = signedHeaders
    .split(';')
    .map((name) => `${name}:${name === 'host' ? url.host : headers[name]?.trim()}\n`)
    .join('');
  const canonical = [method, path, query, canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const [, day, region, service] = credential.split('/') as [string, string, string, string];
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    date,
    `${day}/${region}/${service}/aws4_request`,
    hex(canonical),
  ].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${SECRET}`, day), region), service), 'aws4_request');
  return hmac(key, stringToSign).toString('hex');
}

/** Checks a sent request's Authorization header; answers its credential scope. */
function expectSigned(request: Sent, { s3 = false } = {}): string {
  const match = /^AWS4-HMAC-SHA256 Credential=(\S+), SignedHeaders=(\S+), Signature=([0-9a-f]{64})$/.exec(
    request.headers.authorization ?? '',
  );
  if (!match) throw new Error(`not signed: ${request.headers.authorization}`);
  const [, credential = '', signedHeaders = '', signature] = match;
  const payloadHash = request.headers['x-amz-content-sha256'] ?? '';
  expect(payloadHash).toBe(hex(request.body ?? ''));
  expect(request.headers['x-amz-security-token']).toBe('session-token');
  const date = request.headers['x-amz-date'] ?? '';
  expect(
    expectedSignature(
      request.method,
      request.url,
      request.headers,
      { credential, date, signedHeaders },
      payloadHash,
      s3,
    ),
  ).toBe(signature);
  return credential.split('/').slice(1, 4).join('/');
}

const xml = (body: string, status = 200) =>
  new Response(`<?xml version="1.0" encoding="UTF-8"?>${body}`, {
    status,
    headers: { 'content-type': 'application/xml' },
  });
const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const today = () => new Date().toISOString().slice(0, 10).replace(/-/g, '');

describe('S3Api in AWS', () => {
  it('reads an object from its bucket’s own host, signed for s3 in the region', async () => {
    const sent = stubFetch(
      new Response('{"signed":{}}', { headers: { 'x-amz-version-id': 'v7', 'content-length': '13' } }),
    );

    const object = await new S3Api().getObject('edgeops-artifacts', 'tuf/root.json');

    expect(await new Response(object.body).text()).toBe('{"signed":{}}');
    expect(object).toMatchObject({ versionId: 'v7', contentLength: 13 });
    const [request] = sent;
    if (!request) throw new Error('nothing sent');
    expect(request.method).toBe('GET');
    expect(request.url.href).toBe('https://edgeops-artifacts.s3.eu-west-1.amazonaws.com/tuf/root.json');
    expect(expectSigned(request, { s3: true })).toBe(`${today()}/eu-west-1/s3`);
    expect(request.headers['x-forwarded-proto']).toBeUndefined();
  });

  it('encodes each segment of a key once, keeps its slashes, and asks for a version', async () => {
    const sent = stubFetch(new Response('x', { headers: { 'content-length': '1' } }));

    await new S3Api().getObject('edgeops-artifacts', 'artifacts/a b+c/ü.bin', 'v 1');

    const [request] = sent;
    if (!request) throw new Error('nothing sent');
    expect(request.url.pathname).toBe('/artifacts/a%20b%2Bc/%C3%BC.bin');
    expect(request.url.search).toBe('?versionId=v%201');
    expectSigned(request, { s3: true });
  });

  it('addresses a bucket whose name has dots by path, which the TLS certificate covers', async () => {
    const sent = stubFetch(new Response('x'));

    await new S3Api().getObject('my.bucket', 'k');

    expect(sent[0]?.url.href).toBe('https://s3.eu-west-1.amazonaws.com/my.bucket/k');
  });

  it('writes an object with its content type and cache control, its payload hashed', async () => {
    const sent = stubFetch(new Response('', { headers: { 'x-amz-version-id': 'v8' } }));

    const { versionId } = await new S3Api().putObject('b-1', 'tuf/timestamp.json', Buffer.from('{}'), {
      contentType: 'application/json',
      cacheControl: 'no-cache',
    });

    expect(versionId).toBe('v8');
    const [request] = sent;
    if (!request) throw new Error('nothing sent');
    expect(request).toMatchObject({ method: 'PUT', body: '{}' });
    expect(request.headers).toMatchObject({
      'content-type': 'application/json',
      'cache-control': 'no-cache',
    });
    // No flexible checksum: S3 does not require one for PutObject.
    expect(Object.keys(request.headers).filter((h) => h.startsWith('x-amz-checksum'))).toEqual([]);
    expectSigned(request, { s3: true });
  });

  it('lists keys under a prefix, entities decoded', async () => {
    const sent = stubFetch(
      xml(
        '<ListBucketResult><Name>b-1</Name><Prefix>a</Prefix><KeyCount>2</KeyCount>' +
          '<Contents><Key>a&amp;b</Key><Size>1</Size></Contents><Contents><Key>a&lt;c</Key></Contents>' +
          '</ListBucketResult>',
      ),
    );

    expect(await new S3Api().listKeys('b-1', 'a', 2)).toEqual(['a&b', 'a<c']);
    expect(sent[0]?.url.href).toBe('https://b-1.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=a&max-keys=2');
    expectSigned(sent[0] as Sent, { s3: true });
  });

  it('starts a multipart upload and completes it with the parts, ETags escaped', async () => {
    const sent = stubFetch(
      xml('<InitiateMultipartUploadResult><UploadId>up&amp;1</UploadId></InitiateMultipartUploadResult>'),
      xml('<CompleteMultipartUploadResult><ETag>"x-2"</ETag></CompleteMultipartUploadResult>'),
    );
    const s3 = new S3Api();

    const uploadId = await s3.createMultipartUpload('b-1', 'artifacts/a');
    await s3.completeMultipartUpload('b-1', 'artifacts/a', uploadId, [
      { partNumber: 1, etag: '"e1"' },
      { partNumber: 2, etag: '"e2"' },
    ]);

    expect(uploadId).toBe('up&1');
    const [create, complete] = sent;
    if (!create || !complete) throw new Error('not sent');
    expect(create).toMatchObject({ method: 'POST' });
    expect(create.url.search).toBe('?uploads=');
    expect(complete.url.search).toBe('?uploadId=up%261');
    expect(complete.body).toContain(
      '<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part><Part><PartNumber>2</PartNumber>',
    );
    expect(complete.headers['content-type']).toBe('application/xml');
    expectSigned(create, { s3: true });
    expectSigned(complete, { s3: true });
  });

  it('fails a completion S3 answered 200 with an error in the body', async () => {
    stubFetch(xml('<Error><Code>InvalidPart</Code><Message>part 2 is gone</Message></Error>'));

    const completion = new S3Api().completeMultipartUpload('b-1', 'k', 'u', [{ partNumber: 1, etag: 'e' }]);

    await expect(completion).rejects.toMatchObject({ name: 'InvalidPart', message: 'part 2 is gone' });
  });

  it('names an error answer by its code and does not try it again', async () => {
    const sent = stubFetch(
      xml('<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>', 404),
    );

    const error = await new S3Api().getObject('b-1', 'nope').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AwsApiError);
    expect(error).toMatchObject({ name: 'NoSuchKey', statusCode: 404 });
    expect(sent).toHaveLength(1);
  });

  it('presigns a PUT that only the host is signed for, its payload unsigned', async () => {
    const url = new URL(await new S3Api().presignPut('b-1', 'artifacts/x y', 900));

    expect(`${url.origin}${url.pathname}`).toBe('https://b-1.s3.eu-west-1.amazonaws.com/artifacts/x%20y');
    const query = Object.fromEntries(url.searchParams);
    expect(query).toMatchObject({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD',
      'X-Amz-Expires': '900',
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Security-Token': 'session-token',
    });
    expect(
      expectedSignature(
        'PUT',
        url,
        {},
        {
          credential: query['X-Amz-Credential'] ?? '',
          date: query['X-Amz-Date'] ?? '',
          signedHeaders: 'host',
        },
        'UNSIGNED-PAYLOAD',
        true,
      ),
    ).toBe(query['X-Amz-Signature']);
  });

  it('presigns an UploadPart with its part number and upload id', async () => {
    const url = new URL(await new S3Api().presignPut('b-1', 'k', 60, { uploadId: 'u/1', partNumber: 3 }));

    expect(url.searchParams.get('partNumber')).toBe('3');
    expect(url.searchParams.get('uploadId')).toBe('u/1');
    const query = Object.fromEntries(url.searchParams);
    expect(
      expectedSignature(
        'PUT',
        url,
        {},
        {
          credential: query['X-Amz-Credential'] ?? '',
          date: query['X-Amz-Date'] ?? '',
          signedHeaders: 'host',
        },
        'UNSIGNED-PAYLOAD',
        true,
      ),
    ).toBe(query['X-Amz-Signature']);
  });
});

describe('S3Api on local AWS (AWS_ENDPOINT_URL)', () => {
  it('addresses buckets by path and marks requests as TLS after signing', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:4566');
    const sent = stubFetch(new Response('x'));

    await new S3Api().getObject('b-1', 'tuf/root.json');

    const [request] = sent;
    if (!request) throw new Error('nothing sent');
    expect(request.url.href).toBe('http://127.0.0.1:4566/b-1/tuf/root.json');
    expect(request.headers['x-forwarded-proto']).toBe('https');
    expect(request.headers.authorization).not.toContain('x-forwarded-proto');
    expectSigned(request, { s3: true });
  });

  it('presigns by path on the endpoint, without the TLS marker (the uploader adds it)', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:4566');

    const url = new URL(await new S3Api().presignPut('b-1', 'artifacts/a', 60));

    expect(`${url.origin}${url.pathname}`).toBe('http://127.0.0.1:4566/b-1/artifacts/a');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
  });

  it('takes AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:4566');
    vi.stubEnv('AWS_ENDPOINT_URL_S3', 'http://127.0.0.1:9000');
    const sent = stubFetch(new Response('x'));

    await new S3Api().getObject('b-1', 'k');

    expect(sent[0]?.url.href).toBe('http://127.0.0.1:9000/b-1/k');
  });
});

describe('AwsService retries', () => {
  it(`tries 5xx, throttling and connection failures again, up to ${MAX_ATTEMPTS} attempts`, async () => {
    const sent = stubFetch(
      new Response('', { status: 503 }),
      new TypeError('fetch failed'),
      new Response('', { headers: { 'x-amz-version-id': 'v1' } }),
    );

    await expect(new S3Api().putObject('b-1', 'k', 'x')).resolves.toEqual({ versionId: 'v1' });
    expect(sent).toHaveLength(3);
    // Each attempt is signed anew.
    for (const request of sent) expectSigned(request, { s3: true });
  });

  it('gives up with the last error after the last attempt', async () => {
    const throttled = () =>
      json({ __type: 'ThrottlingException', message: 'Rate exceeded' }, 400, {
        'x-amzn-errortype': 'ThrottlingException:http://internal.amazon.com/coral/com.amazonaws.iot/',
      });
    const sent = stubFetch(throttled(), throttled(), throttled(), json({}));

    await expect(new IotApi().deleteThing({ thingName: 'gw-1' })).rejects.toMatchObject({
      name: 'ThrottlingException',
      message: 'Rate exceeded',
    });
    expect(sent).toHaveLength(MAX_ATTEMPTS);
  });

  it('fails at once, without credentials in the environment', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', undefined);
    const sent = stubFetch();

    await expect(new IotApi().deleteThing({ thingName: 'gw-1' })).rejects.toThrow(
      'No AWS credentials in the environment',
    );
    expect(sent).toHaveLength(0);
  });
});

describe('IotApi', () => {
  it('sends each operation to its REST path, signed for iot, and reads the JSON answer', async () => {
    const sent = stubFetch(
      json({ thingGroupArn: 'arn:aws:iot:eu-west-1:1:thinggroup/edgeops-ro-1-w0' }),
      json({}),
      json({}),
      json({ things: ['gw-1'], nextToken: 'n2' }),
    );
    const iot = new IotApi();

    const group = await iot.createThingGroup({ thingGroupName: 'edgeops-ro-1-w0' });
    await iot.attachThingPrincipal({ thingName: 'gw-1', principal: 'arn:aws:iot:eu-west-1:1:cert/abc' });
    await iot.cancelJob({ jobId: 'ro-1-w0', reasonCode: 'EDGEOPS_HALT', comment: 'halted', force: false });
    const page = await iot.listThingsInThingGroup({ thingGroupName: 'g', recursive: true, maxResults: 250 });

    expect(group.thingGroupArn).toContain('thinggroup/edgeops-ro-1-w0');
    expect(page).toEqual({ things: ['gw-1'], nextToken: 'n2' });
    expect(sent.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)).toEqual([
      'POST /thing-groups/edgeops-ro-1-w0',
      'PUT /things/gw-1/principals',
      'PUT /jobs/ro-1-w0/cancel?force=false',
      'GET /thing-groups/g/things?recursive=true&maxResults=250',
    ]);
    expect(sent[0]?.url.host).toBe('iot.eu-west-1.amazonaws.com');
    expect(sent[0]?.body).toBe('{}');
    expect(sent[1]?.headers['x-amzn-principal']).toBe('arn:aws:iot:eu-west-1:1:cert/abc');
    expect(JSON.parse(sent[2]?.body ?? '')).toEqual({ reasonCode: 'EDGEOPS_HALT', comment: 'halted' });
    expect(sent[2]?.headers['content-type']).toBe('application/json');
    for (const request of sent) expect(expectSigned(request)).toMatch(/\/eu-west-1\/iot$/);
  });

  it('keeps the fields of an error answer (the ARN of what already exists)', async () => {
    stubFetch(
      json(
        {
          message: 'Thing Group edgeops-ro-1-w0 already exists',
          resourceId: 'id',
          resourceArn: 'arn:aws:iot:eu-west-1:1:thinggroup/edgeops-ro-1-w0',
        },
        409,
        { 'x-amzn-errortype': 'ResourceAlreadyExistsException:http://internal.amazon.com/' },
      ),
    );

    const error = await new IotApi().createThingGroup({ thingGroupName: 'edgeops-ro-1-w0' }).catch((e) => e);

    expect(error).toMatchObject({
      name: 'ResourceAlreadyExistsException',
      statusCode: 409,
      details: { resourceArn: 'arn:aws:iot:eu-west-1:1:thinggroup/edgeops-ro-1-w0' },
    });
  });
});

describe('IotDataApi', () => {
  const update = () =>
    new IotDataApi().updateThingShadow({ thingName: 'gw-1', document: { state: { desired: { a: 1 } } } });

  it("updates a classic shadow on the region's data-ats endpoint, without asking AWS IoT", async () => {
    const sent = stubFetch(json({ state: {} }));

    await update();

    const [request] = sent;
    if (!request) throw new Error('nothing sent');
    expect(sent).toHaveLength(1);
    expect(request.url.href).toBe('https://data-ats.iot.eu-west-1.amazonaws.com/things/gw-1/shadow');
    expect(request.body).toBe('{"state":{"desired":{"a":1}}}');
    expect(expectSigned(request)).toMatch(/\/iotdata$/);
  });

  it('uses IOT_DATA_ENDPOINT when it is set', async () => {
    vi.stubEnv('IOT_DATA_ENDPOINT', 'abc-ats.iot.eu-west-1.amazonaws.com');
    const sent = stubFetch(json({}));

    await update();

    expect(sent[0]?.url.host).toBe('abc-ats.iot.eu-west-1.amazonaws.com');
  });

  it("uses local AWS's endpoint when AWS_ENDPOINT_URL is set", async () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:4566');
    const sent = stubFetch(json({}));

    await update();

    expect(sent[0]?.url.href).toBe('http://127.0.0.1:4566/things/gw-1/shadow');
    expect(sent[0]?.headers['x-forwarded-proto']).toBeUndefined();
  });
});

describe('LambdaApi', () => {
  it('invokes by name or ARN (signed with the ARN encoded twice in the path)', async () => {
    const sent = stubFetch(
      new Response('{"errorMessage":"boom"}', { headers: { 'x-amz-function-error': 'Unhandled' } }),
    );
    const arn = 'arn:aws:lambda:eu-west-1:1:function:edgeops-publisher';

    const output = await new LambdaApi().invoke({
      functionName: arn,
      invocationType: 'RequestResponse',
      payload: '{"action":"refresh"}',
    });

    expect(output).toEqual({ functionError: 'Unhandled', payload: '{"errorMessage":"boom"}' });
    const [request] = sent;
    if (!request) throw new Error('nothing sent');
    expect(request.url.pathname).toBe(`/2015-03-31/functions/${encodeURIComponent(arn)}/invocations`);
    expect(request.headers['x-amz-invocation-type']).toBe('RequestResponse');
    expect(expectSigned(request)).toMatch(/\/lambda$/);
  });
});

describe('SfnApi and KmsApi (the AWS JSON protocols)', () => {
  it('names the operation in X-Amz-Target and cleans the error code', async () => {
    const sent = stubFetch(
      json({ __type: 'com.amazonaws.swf.service.v2.model#ExecutionAlreadyExists', message: 'exists' }, 400),
    );

    const error = await new SfnApi()
      .startExecution({ stateMachineArn: 'arn:sm', name: 'ro-1', input: '{}' })
      .catch((e) => e);

    expect(error).toMatchObject({ name: 'ExecutionAlreadyExists', message: 'exists' });
    const [request] = sent;
    if (!request) throw new Error('nothing sent');
    expect(request.url.href).toBe('https://states.eu-west-1.amazonaws.com/');
    expect(request.headers).toMatchObject({
      'x-amz-target': 'AWSStepFunctions.StartExecution',
      'content-type': 'application/x-amz-json-1.0',
    });
    expect(JSON.parse(request.body ?? '')).toEqual({ stateMachineArn: 'arn:sm', name: 'ro-1', input: '{}' });
    expect(expectSigned(request)).toMatch(/\/states$/);
  });

  it('sends and reads KMS binary fields as base64', async () => {
    const sent = stubFetch(
      json({ KeySpec: 'ECC_NIST_P256', PublicKey: Buffer.from('der').toString('base64') }),
      json({ Signature: Buffer.from('sig').toString('base64') }),
    );
    const kms = new KmsApi();

    const key = await kms.getPublicKey({ keyId: 'arn:key' });
    const { signature } = await kms.sign({
      keyId: 'arn:key',
      message: Buffer.from('digest'),
      messageType: 'DIGEST',
      signingAlgorithm: 'ECDSA_SHA_256',
    });

    expect(key).toEqual({ keySpec: 'ECC_NIST_P256', publicKey: Buffer.from('der') });
    expect(signature).toEqual(Buffer.from('sig'));
    expect(sent[1]?.headers['x-amz-target']).toBe('TrentService.Sign');
    expect(JSON.parse(sent[1]?.body ?? '')).toEqual({
      KeyId: 'arn:key',
      Message: Buffer.from('digest').toString('base64'),
      MessageType: 'DIGEST',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    for (const request of sent) expect(expectSigned(request)).toMatch(/\/kms$/);
  });
});
