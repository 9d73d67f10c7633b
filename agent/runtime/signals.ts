/** Resolves on the first SIGINT or SIGTERM, or after `afterMs` if given; then stops listening. */
export function stopRequested(afterMs?: number): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      process.off("SIGINT", finish);
      process.off("SIGTERM", finish);
      resolve();
    };
    process.once("SIGINT", finish);
    process.once("SIGTERM", finish);
    if (afterMs !== undefined) setTimeout(finish, afterMs).unref();
  });
}
