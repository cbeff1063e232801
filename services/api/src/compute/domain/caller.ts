/** Who is calling, as the compute services need it (from the verified token). */
export interface Caller {
  userId: string;
  projectId: string;
  admin: boolean;
  /** The caller's token, passed on to the image service. */
  token: string;
}
