// vcsim moved to product code (the drill's on-prem site starts it); tests import it from here as before.
export {
  ensureVcsim,
  startVcsim,
  VCSIM_START_TIMEOUT_MS,
  type Vcsim,
  type VcsimOptions,
} from '../../core/localcloud/vcsim.js';
