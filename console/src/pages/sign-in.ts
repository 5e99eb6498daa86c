import { type CognitoClient, CognitoError, type SignInStep, type Tokens } from '../cognito';
import { h, replaceChildren } from '../dom';

/**
 * The sign-in form and the steps Cognito may ask for after it: a new password (first sign-in of
 * an admin-created user), authenticator setup (first sign-in where the pool requires MFA) and the
 * authenticator's code. Each step is its own form with one labelled field and its errors next to it.
 */
export function renderSignIn(
  root: HTMLElement,
  cognito: CognitoClient,
  done: (tokens: Tokens) => void,
): void {
  const error = h('p', { id: 'sign-in-error', class: 'error', role: 'alert' });
  const show = async (work: () => Promise<SignInStep>, button: HTMLButtonElement) => {
    error.textContent = '';
    button.disabled = true;
    try {
      const step = await work();
      if (step.kind === 'signed-in') done(step.tokens);
      else renderStep(step);
    } catch (e) {
      error.textContent =
        e instanceof CognitoError && e.code === 'NotAuthorizedException'
          ? 'Incorrect user name or password.'
          : e instanceof Error
            ? e.message
            : String(e);
    } finally {
      button.disabled = false;
    }
  };

  const form = (
    heading: string,
    intro: string | HTMLElement | null,
    fields: HTMLElement[],
    submit: string,
    onSubmit: (data: FormData, button: HTMLButtonElement) => void,
  ) => {
    const button = h('button', { type: 'submit', class: 'primary' }, submit);
    const element = h(
      'form',
      { class: 'sign-in', 'aria-labelledby': 'sign-in-heading', 'aria-describedby': 'sign-in-error' },
      h('h1', { id: 'sign-in-heading', tabindex: -1 }, heading),
      intro ? h('p', null, intro) : null,
      fields,
      error,
      button,
    );
    element.addEventListener('submit', (event) => {
      event.preventDefault();
      onSubmit(new FormData(element), button);
    });
    replaceChildren(
      root,
      h('main', { id: 'main', class: 'sign-in-page' }, h('p', { class: 'brand' }, 'EdgeOps'), element),
    );
    element.querySelector('h1')?.focus();
  };

  const field = (name: string, label: string, attributes: Record<string, string | boolean>) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: `sign-in-${name}` }, label),
      h('input', { id: `sign-in-${name}`, name, required: true, ...attributes }),
    );
  const codeField = () =>
    field('code', 'Code from your authenticator app', {
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      pattern: '[0-9]{6}',
      maxlength: '6',
    });

  function renderStep(step: Exclude<SignInStep, { kind: 'signed-in' }>) {
    switch (step.kind) {
      case 'new-password':
        return form(
          'Choose a new password',
          'Your account has a temporary password. Choose your own: at least 12 characters with upper and lower case letters, a digit and a symbol.',
          [
            field('password', 'New password', {
              type: 'password',
              autocomplete: 'new-password',
              minlength: '12',
            }),
          ],
          'Set password',
          (data, button) =>
            void show(() => cognito.setNewPassword(step, String(data.get('password'))), button),
        );
      case 'mfa-setup':
        return form(
          'Set up your authenticator',
          h(
            'span',
            null,
            'This pool requires a second factor. Add this key to an authenticator app, then enter the code it shows: ',
            h('code', { class: 'secret' }, step.secretCode),
          ),
          [codeField()],
          'Verify',
          (data, button) => void show(() => cognito.verifyMfaSetup(step, String(data.get('code'))), button),
        );
      case 'mfa-code':
        return form('Enter your code', null, [codeField()], 'Verify', (data, button) =>
          show(() => cognito.answerMfaCode(step, String(data.get('code'))), button),
        );
    }
  }

  form(
    'Sign in to EdgeOps',
    null,
    [
      field('username', 'User name or email', { autocomplete: 'username', autocapitalize: 'none' }),
      field('password', 'Password', { type: 'password', autocomplete: 'current-password' }),
    ],
    'Sign in',
    (data, button) =>
      void show(() => cognito.signIn(String(data.get('username')), String(data.get('password'))), button),
  );
}
