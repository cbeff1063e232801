import { withRequestId } from '@strato/log';
import { createEnvelope, decodeEnvelope, encodeEnvelope } from './envelope';

describe('envelope', () => {
  it('takes the request id of the work in progress', () => {
    const envelope = withRequestId('req-1', () =>
      createEnvelope({ type: 'compute.build_instance', version: 1, payload: {} }, 'api'),
    );
    expect(envelope.requestId).toBe('req-1');
  });

  it('survives encoding and decoding unchanged', () => {
    const envelope = createEnvelope({ type: 'image.uploaded', version: 3, payload: { size: 5 } }, 'image');
    expect(decodeEnvelope(encodeEnvelope(envelope))).toEqual(envelope);
  });

  it('refuses to build a message with a non-integer version', () => {
    expect(() => createEnvelope({ type: 'x.y', version: 1.5, payload: {} }, 'api')).toThrow(
      expect.objectContaining({ kind: 'Invalid' }),
    );
  });

  it('rejects a body that is not JSON with kind Invalid', () => {
    expect(() => decodeEnvelope(Buffer.from('not json'))).toThrow(
      expect.objectContaining({ kind: 'Invalid' }),
    );
  });

  it('rejects an envelope without a sender, naming the field', () => {
    const envelope = createEnvelope({ type: 'x.y', version: 1, payload: {} }, 'api');
    const { sender: _sender, ...rest } = envelope;
    expect(() => decodeEnvelope(Buffer.from(JSON.stringify(rest)))).toThrow(/sender/);
  });
});
