import { AppError, fromWire, keystoneFault, notFound, novaFault, toAppError } from './index';

describe('errors', () => {
  it('maps kinds to Keystone fault bodies', () => {
    expect(keystoneFault(notFound('Could not find project: p1.'))).toEqual({
      status: 404,
      body: { error: { code: 404, title: 'Not Found', message: 'Could not find project: p1.' } },
    });
  });

  it('maps kinds to Nova fault bodies', () => {
    expect(novaFault(new AppError('Conflict', 'busy'))).toEqual({
      status: 409,
      body: { conflictingRequest: { code: 409, message: 'busy' } },
    });
    expect(novaFault(new AppError('NotFound', 'x')).body).toHaveProperty('itemNotFound');
  });

  it('hides the message of unexpected errors', () => {
    const fault = keystoneFault(new Error('db password is hunter2'));
    expect(fault.status).toBe(500);
    expect(JSON.stringify(fault.body)).not.toContain('hunter2');
  });

  it('round-trips over the wire and marks Unavailable retryable', () => {
    const err = new AppError('Unavailable', 'broker down');
    const back = fromWire(JSON.parse(JSON.stringify(err.toWire())));
    expect(back).toMatchObject({ kind: 'Unavailable', message: 'broker down', retryable: true });
  });

  it('recognises error-shaped objects from another package copy', () => {
    expect(toAppError({ kind: 'Forbidden', message: 'no' }).kind).toBe('Forbidden');
    expect(toAppError({ kind: 'Nonsense', message: 'no' }).kind).toBe('Internal');
  });
});
