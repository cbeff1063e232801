import { sampleImage, sampleScheduleRequest, type PayloadOf, type scheduleInstance } from '@strato/contracts';

export type ScheduleRequest = PayloadOf<typeof scheduleInstance>;

export function scheduleRequest(overrides: Partial<ScheduleRequest> = {}): ScheduleRequest {
  return sampleScheduleRequest({
    project_id: 'project-1',
    user_id: 'user-1',
    display_name: `<web & "db"> ]]>`,
    image: sampleImage({ id: 'image-1' }),
    ...overrides,
  });
}
