import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AllowedMethods,
  CachePolicy,
  Function as CloudFrontFunction,
  Distribution,
  FunctionCode,
  FunctionEventType,
  FunctionRuntime,
  GeoRestriction,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  OriginRequestPolicy,
  ResponseHeadersPolicy,
  SecurityPolicyProtocol,
  SSLMethod,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { RestApiOrigin, S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import type { IUserPool, IUserPoolClient } from 'aws-cdk-lib/aws-cognito';
import { type IRole, Policy } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { buildConsole } from '../console/build';
import { consoleContentSecurityPolicy } from '../console/security-headers';
import { accessLogBucket } from './access-logs';

/** The path under which CloudFront forwards to the operator API (and the console calls it). */
export const CONSOLE_API_PATH = '/api';

export interface OperatorConsoleProps {
  readonly api: RestApi;
  readonly userPool: IUserPool;
  readonly userPoolClient: IUserPoolClient;
  /** @default RemovalPolicy.DESTROY (the bucket holds only build output; its logs follow this too) */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * ARN of an AWS WAF web ACL of CLOUDFRONT scope. Such ACLs exist only in us-east-1, so a stack
   * elsewhere cannot create one itself: create it there and pass its ARN.
   * @default none: the API keeps its own regional web ACL behind CloudFront
   */
  readonly webAclArn?: string;
  /**
   * ISO 3166-1 alpha-2 codes of the countries that may load the console.
   * @default every country
   */
  readonly allowedCountries?: readonly string[];
  /**
   * A custom domain with its certificate (ACM, us-east-1), served with TLS 1.2 at least.
   * @default the distribution's cloudfront.net name and CloudFront's default certificate
   */
  readonly domain?: { readonly names: readonly string[]; readonly certificate: ICertificate };
}

/**
 * The operator console in AWS: its static files in a private S3 bucket that only this CloudFront
 * distribution reads (origin access control), served over HTTPS with security headers; and
 * `/api/*` on the same distribution routed to the operator API. The console calls the API on its
 * own origin, so the API needs no CORS: no preflight before each call, and no CORS headers to
 * keep right on every Lambda response and every API Gateway error response. `config.json` (API
 * path, region, user pool and app client) is written by the deployment next to the app.
 */
export class OperatorConsole extends Construct {
  public readonly bucket: Bucket;
  public readonly distribution: Distribution;
  /** https://<distribution domain>/ */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: OperatorConsoleProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const accessLogs = accessLogBucket(this, removalPolicy);

    this.bucket = new Bucket(this, 'Site', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'console-site/',
      // The deployment below deletes its files first, so the bucket is empty when it goes.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // CloudFront's standard logs are delivered with ACLs, which the access-log bucket turns off.
    const distributionLogs = new Bucket(this, 'DistributionLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'console-distribution-logs/',
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy,
    });

    const cognito = `https://cognito-idp.${Aws.REGION}.amazonaws.com`;
    const headers = new ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'EdgeOps console: CSP, HSTS, no framing, no sniffing, no referrer',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: consoleContentSecurityPolicy([cognito]),
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(730),
          includeSubdomains: true,
          override: true,
        },
      },
    });

    // `/api/devices` on the console's origin is `/devices` of the API's stage.
    const stripApiPrefix = new CloudFrontFunction(this, 'StripApiPrefix', {
      runtime: FunctionRuntime.JS_2_0,
      comment: `Removes ${CONSOLE_API_PATH} before the request goes to API Gateway`,
      code: FunctionCode.fromInline(
        [
          'function handler(event) {',
          '  var request = event.request;',
          `  request.uri = request.uri.replace(/^\\${CONSOLE_API_PATH}(?=\\/|$)/, '') || '/';`,
          '  return request;',
          '}',
        ].join('\n'),
      ),
    });

    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'EdgeOps operator console',
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
      minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
      sslSupportMethod: SSLMethod.SNI,
      enableLogging: true,
      logBucket: distributionLogs,
      logFilePrefix: 'console/',
      ...(props.domain
        ? { domainNames: [...props.domain.names], certificate: props.domain.certificate }
        : {}),
      ...(props.webAclArn ? { webAclId: props.webAclArn } : {}),
      ...(props.allowedCountries
        ? { geoRestriction: GeoRestriction.allowlist(...props.allowedCountries) }
        : {}),
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
      },
      additionalBehaviors: {
        [`${CONSOLE_API_PATH}/*`]: {
          origin: new RestApiOrigin(props.api),
          // An API call over plain HTTP is refused, not redirected: a redirect would have sent the token in the clear already.
          viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: AllowedMethods.ALLOW_ALL,
          cachePolicy: CachePolicy.CACHING_DISABLED,
          // Every header but Host (API Gateway routes by its own host name), Authorization included.
          originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
          responseHeadersPolicy: headers,
          functionAssociations: [{ function: stripApiPrefix, eventType: FunctionEventType.VIEWER_REQUEST }],
        },
      },
    });
    this.url = `https://${this.distribution.distributionDomainName}/`;

    const deployment = new BucketDeployment(this, 'Deploy', {
      destinationBucket: this.bucket,
      sources: [
        // One build per synthesizing process: concurrent synths never write into each other's.
        Source.asset(buildConsole(join(tmpdir(), `edgeops-console-build-${process.pid}`))),
        Source.jsonData('config.json', {
          apiUrl: `${CONSOLE_API_PATH}/`,
          region: Aws.REGION,
          userPoolId: props.userPool.userPoolId,
          clientId: props.userPoolClient.userPoolClientId,
        }),
      ],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      prune: true,
      retainOnDelete: false,
      memoryLimit: 256,
    });

    this.#acknowledge(props, deployment);
  }

  #acknowledge(props: OperatorConsoleProps, deployment: BucketDeployment) {
    if (!props.webAclArn)
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR2',
        reason:
          'CLOUDFRONT-scope web ACLs exist only in us-east-1; pass webAclArn to attach one. The static files are public by design, and /api/* still passes the API stage’s regional web ACL.',
      });
    if (!props.allowedCountries)
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR1',
        reason:
          'Operators work wherever the fleet is; pass allowedCountries to restrict. Every API call needs a Cognito token.',
      });
    if (!props.domain)
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          'Without a custom domain CloudFront serves its default *.cloudfront.net certificate, whose policy it fixes; pass domain (with an ACM certificate) to get TLSv1.2_2021.',
      });
    // CDK's singleton that copies the build into the bucket at deploy time (Python + AWS CLI).
    const deployer = Stack.of(this).node.children.find((c) =>
      c.node.id.startsWith('Custom::CDKBucketDeployment'),
    );
    if (!deployer) return;
    const deployerOnly = "CDK's BucketDeployment handler, run at deploy time only";
    Validations.of(deployer).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: `${deployerOnly}: log writing only.`,
      },
      {
        id: 'AwsSolutions-L1',
        reason: `${deployerOnly}: its runtime is the one CDK ships its AWS CLI layer for.`,
      },
      // Its grants, as CDK writes them: read of the asset bucket's objects, write of the site
      // bucket's, and CloudFront invalidations (which it creates and waits for by id).
      ...wildcardFindings(deployment.handlerRole).map((finding) => ({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason: `${deployerOnly}: copies the console's build from the CDK asset bucket into the console bucket and invalidates the distribution.`,
      })),
    );
  }
}

/**
 * The AwsSolutions-IAM5 findings (`Action::s3:List*`, `Resource::<Bucket.Arn>/*`) a role's
 * default policy raises, named as cdk-nag names them: for grants CDK writes itself, where the
 * names (the asset bucket's, say) are not ours to spell out.
 */
function wildcardFindings(role: IRole): string[] {
  const policy = role.node.tryFindChild('DefaultPolicy');
  if (!(policy instanceof Policy)) return [];
  const document = Stack.of(role).resolve(policy.document.toJSON()) as {
    Statement?: { Effect: string; Action?: string | string[]; Resource?: unknown }[];
  };
  const findings = new Set<string>();
  for (const statement of document.Statement ?? []) {
    if (statement.Effect !== 'Allow') continue;
    for (const action of [statement.Action ?? []].flat())
      if (action.includes('*')) findings.add(`Action::${action}`);
    for (const resource of [statement.Resource ?? []].flat()) {
      const text = nagText(resource);
      if (text.includes('*')) findings.add(`Resource::${text}`);
    }
  }
  return [...findings];
}

/** A resolved CloudFormation value as cdk-nag prints it: `<Ref>`, `<Logical.Attr>`, subs and joins filled in. */
function nagText(value: unknown): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as Record<string, unknown>;
  if (typeof intrinsic.Ref === 'string') return `<${intrinsic.Ref}>`;
  const getAtt = intrinsic['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
  // The CDK asset bucket of an environment-agnostic stack: `cdk-…-assets-${AWS::AccountId}-${AWS::Region}`.
  const sub = intrinsic['Fn::Sub'];
  if (typeof sub === 'string') return sub.replace(/\$\{([^}]+)\}/g, '<$1>');
  const join = intrinsic['Fn::Join'];
  if (Array.isArray(join)) return (join[1] as unknown[]).map(nagText).join(String(join[0]));
  return JSON.stringify(value);
}
