//! Plans and workspaces kept from one call to the next. On small signals a
//! call's own set-up cost as much as its pairs: building the two plans, and
//! allocating and zeroing a workspace for every tile task and every split
//! of the signals among threads (fc, one vector: 55 µs a call, a third of
//! it in `malloc` and `free`, 15% in `Plan::new`).

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Result;
use crate::net::Net;
use crate::pair::Workspace;
use crate::plan::{Plan, Target};
use crate::real::Precision;

/// Plans kept, the most recently used first.
const PLANS: usize = 8;
/// Workspaces kept: up to this many, each of at most `SPARE_BYTES`. Large
/// ones cost little to allocate next to the work of their pairs, and would
/// hold memory after the call.
const SPARES: usize = 64;
const SPARE_BYTES: usize = 1 << 20;

struct Planned {
    net: Net,
    grid: Vec<usize>,
    target: Target,
    plan: Arc<Plan>,
}

static PLANNED: Mutex<Vec<Planned>> = Mutex::new(Vec::new());

/// Workspaces returned by `Lent`, with the plan they were made for, the
/// oldest first.
static SPARE: Mutex<Vec<(Arc<Plan>, Workspace)>> = Mutex::new(Vec::new());

/// A poisoned lock only means a panic elsewhere: the lists stay valid.
fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `Plan::new(net, grid, target)`, built once for the last few networks
/// and grids.
pub fn plan(net: &Net, grid: &[usize], target: Target) -> Result<Arc<Plan>> {
    let found = |p: &Planned| p.target == target && p.grid == grid && p.net == *net;
    {
        let mut planned = lock(&PLANNED);
        if let Some(i) = planned.iter().position(found) {
            let hit = planned.remove(i);
            let plan = Arc::clone(&hit.plan);
            planned.insert(0, hit);
            return Ok(plan);
        }
    }
    let plan = Arc::new(Plan::new(net, grid, target)?);
    let mut planned = lock(&PLANNED);
    planned.insert(0, Planned { net: net.clone(), grid: grid.to_vec(), target, plan: Arc::clone(&plan) });
    planned.truncate(PLANS);
    Ok(plan)
}

/// A workspace for `plan` in `precision`: a spare one if there is one,
/// returned to the spares when dropped.
pub fn workspace(plan: &Arc<Plan>, precision: Precision) -> Lent {
    let spare = {
        let mut spare = lock(&SPARE);
        let i = spare.iter().rposition(|(p, ws)| Arc::ptr_eq(p, plan) && ws.precision() == precision);
        i.map(|i| spare.remove(i).1)
    };
    let ws = spare.unwrap_or_else(|| Workspace::new(plan, precision));
    Lent { plan: Arc::clone(plan), ws: Some(ws) }
}

/// See `workspace`.
pub struct Lent {
    plan: Arc<Plan>,
    ws: Option<Workspace>,
}

impl Deref for Lent {
    type Target = Workspace;

    fn deref(&self) -> &Workspace {
        self.ws.as_ref().expect("held until dropped")
    }
}

impl DerefMut for Lent {
    fn deref_mut(&mut self) -> &mut Workspace {
        self.ws.as_mut().expect("held until dropped")
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let ws = self.ws.take().expect("held until dropped");
        if ws.bytes() <= SPARE_BYTES {
            let mut spare = lock(&SPARE);
            if spare.len() == SPARES {
                // The oldest: it may be of a plan no longer in use.
                spare.remove(0);
            }
            spare.push((Arc::clone(&self.plan), ws));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Layer, Padding, Pool};

    fn net(patch: usize) -> Net {
        Net::new(vec![Layer { patch: vec![patch], padding: Padding::Same, pool: Pool::GlobalAverage }])
            .unwrap()
    }

    #[test]
    fn plans_are_built_once_per_network_grid_and_target() {
        let a = plan(&net(3), &[10], Target::Readout).unwrap();
        assert!(Arc::ptr_eq(&a, &plan(&net(3), &[10], Target::Readout).unwrap()));
        for other in [
            plan(&net(5), &[10], Target::Readout).unwrap(),
            plan(&net(3), &[11], Target::Readout).unwrap(),
            plan(&net(3), &[10], Target::Norms).unwrap(),
        ] {
            assert!(!Arc::ptr_eq(&a, &other));
        }
        assert_eq!(*a, Plan::new(&net(3), &[10], Target::Readout).unwrap());
        assert!(plan(&net(3), &[2, 2, 2], Target::Readout).is_err());
    }

    /// Spare workspaces of `plan` in `precision`.
    fn spares(plan: &Arc<Plan>, precision: Precision) -> usize {
        lock(&SPARE).iter().filter(|(p, ws)| Arc::ptr_eq(p, plan) && ws.precision() == precision).count()
    }

    #[test]
    fn workspaces_are_reused_for_their_plan_and_precision_only() {
        let (a, b) =
            (plan(&net(3), &[12], Target::Readout).unwrap(), plan(&net(3), &[13], Target::Readout).unwrap());
        drop(workspace(&a, Precision::F64));
        assert_eq!(spares(&a, Precision::F64), 1);
        let held = workspace(&a, Precision::F64);
        assert_eq!(spares(&a, Precision::F64), 0);
        drop([workspace(&a, Precision::F32), workspace(&b, Precision::F64)]);
        assert_eq!((spares(&a, Precision::F32), spares(&b, Precision::F64)), (1, 1));
        drop(held);
        assert_eq!((spares(&a, Precision::F64), spares(&a, Precision::F32)), (1, 1));
        // Large workspaces are not kept.
        let large = plan(&net(3), &[3000], Target::Readout).unwrap();
        let ws = workspace(&large, Precision::F64);
        assert!(ws.bytes() > SPARE_BYTES);
        drop(ws);
        assert_eq!(spares(&large, Precision::F64), 0);
    }
}
