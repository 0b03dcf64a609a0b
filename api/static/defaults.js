// Default learning rates. The catalog's `tuned_learning_rate` ({objective: rate}) wins when it
// publishes one; otherwise this table. It was measured with optserve itself (float32, seed 0,
// 2,000 steps from each objective's default start): for every objective and optimizer, a
// sweep over 3e-5, 1e-4, 3e-4, ..., 3, keeping the smallest rate whose final loss is within 1%
// (or 1e-6) of the best, capped at 1. Rates that diverged everywhere are left out, and the
// optimizer keeps its catalog default (1e-3 for most).
const TABLE = {
  rosenbrock: { gd: 1e-3, momentum: 1e-3, nesterov: 1e-3, adagrad: 1, rmsprop: 3e-3, adam: 3e-2, adamw: 3e-2, radam: 1e-2, ranger: 1e-2, lars: 1, lamb: 3e-2, ranger_lars: 1, paratrooper: 1e-2 },
  beale: { gd: 1e-2, momentum: 1e-3, nesterov: 1e-3, adagrad: 1, rmsprop: 3e-3, adam: 3e-2, adamw: 3e-1, radam: 1e-2, ranger: 1e-2, lars: 1, lamb: 3e-3, ranger_lars: 3e-2, paratrooper: 1e-2 },
  booth: { gd: 3e-3, momentum: 3e-4, nesterov: 3e-4, adagrad: 3e-1, rmsprop: 3e-3, adam: 3e-2, adamw: 3e-1, radam: 3e-2, ranger: 3e-2, lars: 1, lamb: 1e-3, ranger_lars: 1e-2, paratrooper: 3e-2 },
  himmelblau: { gd: 3e-4, momentum: 3e-5, nesterov: 3e-5, adagrad: 1e-1, rmsprop: 3e-2, adam: 1e-2, adamw: 3e-1, radam: 1e-2, ranger: 3e-2, lars: 1, lamb: 1e-2, ranger_lars: 1e-2, paratrooper: 1e-2 },
  rastrigin: { gd: 3e-5, momentum: 3e-5, nesterov: 3e-5, adagrad: 1, rmsprop: 3e-4, adam: 1, adamw: 1, radam: 1e-1, ranger: 1e-1, lars: 1, lamb: 1, ranger_lars: 3e-1, paratrooper: 1e-1 },
  ackley: { gd: 1e-1, momentum: 3e-5, nesterov: 3e-5, adagrad: 1, rmsprop: 3e-1, adam: 1, adamw: 1, radam: 3e-1, ranger: 1, lars: 1, lamb: 1e-1, ranger_lars: 1, paratrooper: 1 },
  goldstein_price: { adagrad: 1e-1, rmsprop: 3e-1, adam: 1, adamw: 3e-1, lars: 1, lamb: 3e-2, ranger_lars: 1e-1 },
  styblinski_tang: { gd: 3e-4, momentum: 3e-5, nesterov: 3e-5, adagrad: 3e-2, rmsprop: 3e-3, adam: 3e-3, adamw: 1, radam: 3e-3, ranger: 1e-2, lars: 1, lamb: 3e-1, ranger_lars: 1, paratrooper: 3e-3 },
  six_hump_camel: { gd: 1e-3, momentum: 1e-4, nesterov: 1e-4, adagrad: 3e-2, rmsprop: 1e-3, adam: 1e-3, adamw: 3e-3, radam: 3e-3, ranger: 3e-3, lars: 1, lamb: 3e-3, ranger_lars: 3e-3, paratrooper: 3e-3 },
  matyas: { gd: 1e-1, momentum: 1e-2, nesterov: 1e-2, adagrad: 1, rmsprop: 1e-2, adam: 3e-2, adamw: 3e-2, radam: 1e-1, ranger: 1e-1, lars: 1, lamb: 1e-2, ranger_lars: 3e-2, paratrooper: 3e-2 },
  levi13: { gd: 3e-3, momentum: 3e-3, nesterov: 3e-3, adagrad: 1, rmsprop: 3e-1, adam: 3e-1, adamw: 3e-1, radam: 3e-2, ranger: 1e-1, lars: 3e-1, lamb: 3e-2, ranger_lars: 3e-1, paratrooper: 1e-1 },
  quadratic: { gd: 1e-2, momentum: 1e-3, nesterov: 1e-3, adagrad: 1e-1, rmsprop: 1, adam: 3e-3, adamw: 3e-3, radam: 3e-3, ranger: 1e-2, lars: 1, lamb: 1e-2, ranger_lars: 1e-2, paratrooper: 1e-2 },
  noisy_quadratic: { gd: 1e-3, momentum: 1e-4, nesterov: 1e-2, adagrad: 1e-1, rmsprop: 3e-3, adam: 3e-3, adamw: 3e-3, radam: 1e-2, ranger: 1e-2, lars: 1, lamb: 1e-2, ranger_lars: 1e-2, paratrooper: 1e-2 },
};
const SAME_AS = { sgd: "gd", noisy_sgd: "gd" };

export function defaultLearningRate(optimizer, objectiveName) {
  if (!optimizer) return null;
  const tuned = optimizer.tuned_learning_rate?.[objectiveName];
  if (typeof tuned === "number" && Number.isFinite(tuned) && tuned > 0) return tuned;
  const row = TABLE[objectiveName] || {};
  const rate = row[optimizer.name] ?? row[SAME_AS[optimizer.name]];
  if (rate !== undefined) return rate;
  return optimizer.hyperparameters?.properties?.learning_rate?.default ?? null;
}
