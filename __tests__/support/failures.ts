/** The error a promise rejects with; fails the test when it resolves instead. */
export async function errorOf(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}
