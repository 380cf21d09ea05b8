/**
 * The run marker: a line of a VM's annotation naming the run that owns it. Rollback and the boot steps find a run's VMs
 * by it; a later run for the same takeover host (or seed VM) replaces it.
 */

/** The line of a failback VM's annotation that names the run owning it; Rollback finds VMs by it. */
export function runMarker(runId: string): string {
  return `homebound-run: ${runId}`;
}

/** Whether the annotation names the run as its owner. */
export function ownedBy(annotation: string, runId: string): boolean {
  return annotation.split('\n').includes(runMarker(runId));
}

/**
 * The annotation of a seed VM the run takes over: its own text kept, an earlier run's marker replaced by this run's
 * (the marker is what Rollback and the boot steps find the run's VMs by).
 */
export function withRunMarker(annotation: string, runId: string): string {
  const own = annotation.split('\n').filter((line) => line !== '' && !line.startsWith(runMarker('')));
  return [...own, runMarker(runId)].join('\n');
}
