//! Plans and workspaces kept from one call to the next. On small signals a
//! call's own set-up cost as much as its pairs: building the two plans, and
//! allocating and zeroing a workspace for every tile task and every split
//! of the signals among threads (fc, one vector: 55 µs a call, a third of
//! it in `malloc` and `free`, 15% in [`Plan::new`]).

use std::any::Any;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Result;
use crate::network::Net;
use crate::network::plan::{Plan, Target};
use crate::pair::Workspace;
use crate::recursion;
use crate::simd::Real;
use crate::threads::Control;

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

/// Workspaces returned by [`Lent`], with the plan they were made for, the
/// oldest first.
static SPARE: Mutex<Vec<Spare>> = Mutex::new(Vec::new());

/// A kept workspace: a [`Reusable`] of any type, and its plan.
type Spare = (Arc<Plan>, Box<dyn Any + Send>);

/// A poisoned lock only means a panic elsewhere: the lists stay valid.
fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `Plan::build(net, grid, target, control)`, built once for the last few
/// networks and grids.
pub fn plan(net: &Net, grid: &[usize], target: Target, control: &Control) -> Result<Arc<Plan>> {
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
    let plan = Arc::new(Plan::build(net, grid, target, control)?);
    let mut planned = lock(&PLANNED);
    planned.insert(0, Planned { net: net.clone(), grid: grid.to_vec(), target, plan: Arc::clone(&plan) });
    planned.truncate(PLANS);
    Ok(plan)
}

/// A thread's buffers for a plan, kept between calls.
pub trait Reusable: Any + Send + Sized {
    fn new(plan: &Plan) -> Result<Self>;
    /// Bytes held now.
    fn bytes(&self) -> usize;
}

impl<T: Real> Reusable for Workspace<T> {
    fn new(plan: &Plan) -> Result<Self> {
        Workspace::new(plan)
    }

    fn bytes(&self) -> usize {
        Workspace::bytes(self)
    }
}

impl<T: Real> Reusable for recursion::Buffers<T> {
    fn new(plan: &Plan) -> Result<Self> {
        recursion::Buffers::new(plan)
    }

    fn bytes(&self) -> usize {
        self.slots() * size_of::<T>()
    }
}

/// A `W` for `plan`: a spare one if there is one, returned to the spares
/// when dropped.
pub fn workspace<W: Reusable>(plan: &Arc<Plan>) -> Result<Lent<W>> {
    let spare = {
        let mut spare = lock(&SPARE);
        let i = spare.iter().rposition(|(p, ws)| Arc::ptr_eq(p, plan) && ws.is::<W>());
        i.and_then(|i| spare.remove(i).1.downcast::<W>().ok())
    };
    let ws = match spare {
        Some(ws) => *ws,
        None => W::new(plan)?,
    };
    Ok(Lent { plan: Arc::clone(plan), ws: Some(ws) })
}

/// See [`workspace`].
pub struct Lent<W: Reusable> {
    plan: Arc<Plan>,
    ws: Option<W>,
}

impl<W: Reusable> Deref for Lent<W> {
    type Target = W;

    fn deref(&self) -> &W {
        self.ws.as_ref().expect("held until dropped")
    }
}

impl<W: Reusable> DerefMut for Lent<W> {
    fn deref_mut(&mut self) -> &mut W {
        self.ws.as_mut().expect("held until dropped")
    }
}

impl<W: Reusable> Drop for Lent<W> {
    fn drop(&mut self) {
        let ws = self.ws.take().expect("held until dropped");
        if ws.bytes() <= SPARE_BYTES {
            let mut spare = lock(&SPARE);
            if spare.len() == SPARES {
                // The oldest: it may be of a plan no longer in use.
                spare.remove(0);
            }
            spare.push((Arc::clone(&self.plan), Box::new(ws)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Layer, Padding, Pool};

    fn net(patch: usize) -> Net {
        Net::new(vec![Layer { patch: vec![patch], padding: Padding::Same, pool: Pool::GlobalAverage }])
            .unwrap()
    }

    #[test]
    fn plans_are_built_once_per_network_grid_and_target() {
        let a = plan(&net(3), &[10], Target::Readout, &Control::default()).unwrap();
        assert!(Arc::ptr_eq(&a, &plan(&net(3), &[10], Target::Readout, &Control::default()).unwrap()));
        for other in [
            plan(&net(5), &[10], Target::Readout, &Control::default()).unwrap(),
            plan(&net(3), &[11], Target::Readout, &Control::default()).unwrap(),
            plan(&net(3), &[10], Target::Norms, &Control::default()).unwrap(),
        ] {
            assert!(!Arc::ptr_eq(&a, &other));
        }
        assert_eq!(*a, Plan::new(&net(3), &[10], Target::Readout).unwrap());
        assert!(plan(&net(3), &[2, 2, 2], Target::Readout, &Control::default()).is_err());
    }

    /// Spare `W`s of `plan`.
    fn spares<W: Reusable>(plan: &Arc<Plan>) -> usize {
        lock(&SPARE).iter().filter(|(p, ws)| Arc::ptr_eq(p, plan) && ws.is::<W>()).count()
    }

    #[test]
    fn workspaces_are_reused_for_their_plan_and_precision_only() {
        let (a, b) = (
            plan(&net(3), &[12], Target::Readout, &Control::default()).unwrap(),
            plan(&net(3), &[13], Target::Readout, &Control::default()).unwrap(),
        );
        type W64 = Workspace<f64>;
        type W32 = Workspace<f32>;
        drop(workspace::<W64>(&a).unwrap());
        assert_eq!(spares::<W64>(&a), 1);
        let held = workspace::<W64>(&a).unwrap();
        assert_eq!(spares::<W64>(&a), 0);
        drop((workspace::<W32>(&a).unwrap(), workspace::<W64>(&b).unwrap()));
        assert_eq!((spares::<W32>(&a), spares::<W64>(&b)), (1, 1));
        drop(held);
        assert_eq!((spares::<W64>(&a), spares::<W32>(&a)), (1, 1));
        assert_eq!(spares::<recursion::Buffers<f64>>(&a), 0);
        // Large workspaces are not kept.
        let large = plan(&net(3), &[3000], Target::Readout, &Control::default()).unwrap();
        let ws = workspace::<W64>(&large).unwrap();
        assert!(ws.bytes() > SPARE_BYTES);
        drop(ws);
        assert_eq!(spares::<W64>(&large), 0);
    }
}
