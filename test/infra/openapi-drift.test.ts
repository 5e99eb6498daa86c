import { describe, expect, it } from 'vitest';
import { OPERATOR_ROUTES } from '../../functions/operator-api/openapi-routes';
import { synthesizeOnce } from './synth';
import { type CfnResource, resourcesOfType } from './template-queries';

const template = synthesizeOnce('local');

/** Every `METHOD /path` the synthesized API Gateway serves (CORS OPTIONS aside). */
function deployedRoutes(): string[] {
  const resources = resourcesOfType(template('local'), 'AWS::ApiGateway::Resource');
  const pathOf = (ref: unknown): string => {
    const id = (ref as { Ref?: string } | undefined)?.Ref;
    if (id === undefined) return ''; // Fn::GetAtt RestApi.RootResourceId: the root
    const resource = resources[id] as CfnResource | undefined;
    if (!resource) throw new Error(`No API resource ${id}`);
    const props = resource.Properties as { ParentId: unknown; PathPart: string };
    return `${pathOf(props.ParentId)}/${props.PathPart}`;
  };
  return Object.values(resourcesOfType(template('local'), 'AWS::ApiGateway::Method'))
    .map((method) => method.Properties as { HttpMethod: string; ResourceId: unknown })
    .filter((props) => props.HttpMethod !== 'OPTIONS')
    .map((props) => `${props.HttpMethod} ${pathOf(props.ResourceId) || '/'}`)
    .sort();
}

describe('OpenAPI route table (functions/operator-api/openapi-routes.ts)', () => {
  const documented = OPERATOR_ROUTES.map((r) => `${r.method} ${r.path}`).sort();

  it('documents every route the stack deploys', () => {
    const missing = deployedRoutes().filter((route) => !documented.includes(route));
    expect(missing, `deployed but not in openapi-routes.ts: ${missing.join(', ')}`).toEqual([]);
  });

  it('documents no route the stack does not deploy', () => {
    const deployed = deployedRoutes();
    const extra = documented.filter((route) => !deployed.includes(route));
    expect(extra, `in openapi-routes.ts but not deployed: ${extra.join(', ')}`).toEqual([]);
  });

  it('finds the routes at all (a broken walk would make both checks pass on nothing)', () => {
    expect(deployedRoutes()).toContain('POST /rollouts/{rolloutId}/pause');
    expect(deployedRoutes()).toContain('GET /openapi.json');
  });
});
