//! The driver every operation shares: it starts children lazily, polls only
//! the ones that were woken, and hands each outcome back with its index.
//!
//! # Why a ready queue
//!
//! `futures::join_all` and futures-concurrency's `Vec::join` re-poll (or
//! re-scan) every child on each wake-up, which turns a gather of n timers
//! into O(n²) work. Here every slot has its own waker; waking it pushes the
//! slot's id onto a shared queue once (a flag dedupes repeated wakes), and
//! the driver polls exactly the ids it drains. The work per wake-up is O(1),
//! whatever the number of children. The wakers and the queue are in
//! [`wake`](crate::wake), the pinned slots in [`slab`](crate::slab).
//!
//! # Why it yields on tokio's budget
//!
//! Children that use tokio resources spend the task's cooperative budget.
//! Once it is gone, every further child would just answer `Pending` and ask
//! to be woken again, so polling them is wasted. The driver checks the
//! budget after each poll and, when it is spent, yields the whole gather
//! once (waking itself), leaving the rest of the batch for the next turn.
//! A bound on polls per turn does the same on other executors. This keeps a
//! million-child gather fair to its neighbours without `unconstrained`.
//!
//! # Why slots
//!
//! With `limit(n)` there are at most n slots, reused as children finish, so
//! a million inputs never means a million started futures, and a finished
//! child's memory is released at once.
//!
//! # Why woken children before new ones
//!
//! Each turn first polls the children that woke since the last one, then
//! starts new inputs with what is left of the turn. Finished children free
//! their slots before the next inputs need one, so without a limit a
//! gather of a million children that each wait once holds a few thousand
//! slots, still in cache, rather than a million (`tests/driver_wakeups.rs`
//! pins it; an A/B at a million yield-once children: 227 -> 110 ms, and
//! 242 -> 41 MiB peak).

use std::future::Future;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::cancel::CancelState;
use crate::child::{drop_unwinding_nowhere, Guard, GuardedOutput, Launch, Stopping};
use crate::outcome::{IntoOutcome, Outcome, OutcomeKind};
use crate::progress::{Event, EventKind, Observer};
use crate::slab::Slab;
use crate::task::AbortScope;
use crate::wake::ReadyQueue;

/// What the driver keeps beside each running child.
#[derive(Default)]
struct SlotMeta {
    /// The child's input index, and in the top bit [`REPORTS_ITSELF`]. One
    /// word for both: the meta of every slot is read and moved on the hot
    /// path, and a separate flag made it half as large again (+25% time
    /// per ready child, measured).
    index_flag: usize,
    guard: Guard,
}

/// In [`SlotMeta::index_flag`]: the child is a `Task` that reports its own
/// end to the watching gather (see [`crate::watch`]), so the driver must
/// not count it again. No input index reaches this bit.
const REPORTS_ITSELF: usize = 1 << (usize::BITS - 1);

impl SlotMeta {
    fn index(&self) -> usize {
        self.index_flag & !REPORTS_ITSELF
    }

    fn reports_itself(&self) -> bool {
        self.index_flag & REPORTS_ITSELF != 0
    }
}

/// A finished child: its input index and outcome.
type Finished<L, F> = (usize, Outcome<<L as Launch<F>>::Ok, <L as Launch<F>>::Err>);

/// Child polls plus child launches per turn before the driver yields.
///
/// A fixed number, not one proportional to the number of children: a
/// million ready children must not be polled in one turn, or the other
/// tasks on the thread would wait for all of them. Yielding costs one
/// reschedule per 1024 children.
pub(crate) const WORK_PER_TURN: usize = 1024;

/// What the builders of every operation set before the first poll.
pub(crate) struct Config {
    /// At most this many children run at once (`usize::MAX`: no bound).
    pub(crate) limit: usize,
    /// Each child's own deadline, from its start.
    pub(crate) child_timeout: Option<Duration>,
    /// Told of each child's start and end.
    pub(crate) observer: Option<Observer>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limit: usize::MAX,
            child_timeout: None,
            observer: None,
        }
    }
}

/// Polls a child of a gather with a cancel handle: a `Task` child may
/// report its own end from now on (see [`crate::watch`]); any other child's
/// end is counted here. Out of line, so that the usual path (no handle)
/// stays as small as it was.
#[inline(never)]
fn poll_watched<C>(
    state: &Arc<CancelState>,
    fail_fast: bool,
    meta: &mut SlotMeta,
    child: Pin<&mut C>,
    cx: &mut Context<'_>,
) -> Poll<GuardedOutput<C>>
where
    C: Future,
    C::Output: IntoOutcome,
{
    let at: *const C = &*child;
    let guard = &mut meta.guard;
    let (polled, reports) = crate::watch::polling(state, fail_fast, at, || guard.poll(child, cx));
    if reports {
        meta.index_flag |= REPORTS_ITSELF;
    }
    // The child's end, unless it is a task that reports its own.
    if let Poll::Ready(outcome) = &polled {
        if !meta.reports_itself() {
            crate::watch::settle(state, fail_fast, !outcome.is_ok());
        }
    }
    polled
}

/// How an operation's run ended, and so what [`Driver::finish`] does with
/// the children still running and the inputs not started yet. This is the
/// whole end-of-run policy, in one place:
///
/// | ending | running in place | running spawned | not started | reported to `each` |
/// |---|---|---|---|---|
/// | `Completed` | none left | none left | none left | - |
/// | `Failed` (fail-fast) | dropped | aborted and awaited, or detached with `keep_siblings` | dropped | no |
/// | `Cancelled` | dropped | aborted and awaited | dropped | no |
/// | `TimedOut` (overall) | dropped | aborted and awaited | kept, to be handed out one by one ([`expire_next`](Driver::expire_next)) or dropped ([`drop_rest`](Driver::drop_rest)) | the running ones, ascending |
///
/// Progress events: every child that started gets exactly one `Finished`
/// in every ending. Those stopped here get `Finished(TimedOut)` after a
/// timeout and `Finished(Cancelled)` otherwise (a sibling detached by
/// `keep_siblings` too: the operation no longer follows it); so do those
/// running when the operation is dropped. An input handed out by
/// `expire_next` is reported as started and timed out, as a child whose
/// own timeout is zero; one dropped unstarted gets no event.
///
/// Nothing is built per input not started: at a deadline the rest of the
/// input is walked only as fast as the operation's caller asks for it, so
/// an input far larger than memory, or endless, costs nothing more than
/// what the caller keeps.
///
/// "Awaited" means the operation returns only after
/// [`poll_stopped`](Driver::poll_stopped) is ready. A [`Task`](crate::Task)
/// dropped with an in-place child or an unstarted input (a child that *is*
/// a task, or holds one) is aborted and awaited the same way, through an
/// [`AbortScope`]. Dropping an operation
/// is not an ending: drop cannot wait, so in-place children are dropped at
/// once and spawned ones are aborted (each stops at its next `.await`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

pub(crate) struct Driver<I: Iterator, L: Launch<I::Item>> {
    input: Option<I>,
    /// After an overall timeout: the inputs never started, to be handed out
    /// as timed out one at a time ([`Driver::expire_next`]).
    rest: Option<I>,
    launch: L,
    slab: Slab<L::Child, SlotMeta>,
    /// Slots whose child has finished, to reuse while inputs remain.
    free: Vec<usize>,
    batch: Vec<usize>,
    batch_pos: usize,
    started: usize,
    finished: usize,
    running: usize,
    total: Option<usize>,
    pub(crate) config: Config,
    /// Spawned children given up on (past their deadline, or running when
    /// the operation ended) that were aborted and have not stopped yet:
    /// tokio's abort only asks. Always empty for in-place children.
    stopping: Vec<Stopping>,
    /// The cancel state of a gather with a handle whose launch asked the
    /// driver to count its children's ends (in place), and whether it is
    /// fail-fast: see [`Driver::watch`].
    watch: Option<(Arc<CancelState>, bool)>,
}

impl<I: Iterator, L: Launch<I::Item>> Drop for Driver<I, L> {
    /// The operation was dropped: each running child is reported
    /// `Finished(Cancelled)` (a progress bar's counts add up whatever
    /// ended the operation), and its unstarted children go without a panic
    /// of theirs unwinding through the caller (the slab does the same for
    /// running ones). An observer that panics here is not heard either:
    /// drop cannot report it.
    fn drop(&mut self) {
        if self.running > 0 && self.config.observer.is_some() {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                for index in self.running_indices() {
                    self.finished += 1;
                    self.emit(index, EventKind::Finished(OutcomeKind::Cancelled));
                }
            }));
        }
        drop_unwinding_nowhere(self.input.take());
        drop_unwinding_nowhere(self.rest.take());
    }
}

impl<I: Iterator, L: Launch<I::Item>> Driver<I, L> {
    pub(crate) fn new(input: I, launch: L) -> Self {
        let total = match input.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo),
            _ => None,
        };
        Driver::fresh(Some(input), total, launch)
    }

    /// A driver that has started nothing, with the default configuration.
    fn fresh(input: Option<I>, total: Option<usize>, launch: L) -> Self {
        Driver {
            input,
            rest: None,
            launch,
            slab: Slab::new(Arc::new(ReadyQueue::new())),
            free: Vec::new(),
            batch: Vec::new(),
            batch_pos: 0,
            started: 0,
            finished: 0,
            running: 0,
            total,
            config: Config::default(),
            stopping: Vec::new(),
            watch: None,
        }
    }

    /// The same input and configuration with another launch strategy.
    /// Only called by builders, before anything has started (so a fresh
    /// driver is the same).
    pub(crate) fn relaunch<L2: Launch<I::Item>>(mut self, launch: L2) -> Driver<I, L2> {
        debug_assert_eq!(self.started, 0);
        let mut driver = Driver::fresh(self.input.take(), self.total, launch);
        driver.config = std::mem::take(&mut self.config);
        driver
    }

    pub(crate) fn launcher_mut(&mut self) -> &mut L {
        &mut self.launch
    }

    /// Before anything starts: the children's ends are counted in `state`
    /// (a gather's cancel handle), so that a `cancel()` after every child
    /// ended does not take effect. Spawned children count themselves; in
    /// place, the driver counts each child it starts and settles it when it
    /// sees it end, except a `Task` child that reports its own end the
    /// moment its task ends (see [`crate::watch`]).
    pub(crate) fn watch(&mut self, state: &Arc<CancelState>, fail_fast: bool) {
        debug_assert_eq!(self.started, 0);
        if self.launch.watch(state, fail_fast) {
            self.watch = Some((state.clone(), fail_fast));
        }
    }

    /// Children started so far (the next child's index).
    pub(crate) fn started(&self) -> usize {
        self.started
    }

    /// Children started and not yet finished.
    pub(crate) fn running(&self) -> usize {
        self.running
    }

    /// The number of children, when the input knows it exactly.
    pub(crate) fn total(&self) -> Option<usize> {
        self.total
    }

    /// Children not started yet, as far as the input's `size_hint` tells
    /// (after a timeout, those still to be handed out as timed out).
    pub(crate) fn unstarted_hint(&self) -> usize {
        let hint = |i: &Option<I>| i.as_ref().map_or(0, |i| i.size_hint().0);
        hint(&self.input).saturating_add(hint(&self.rest))
    }

    /// `true` when nothing is running and the input is exhausted.
    pub(crate) fn is_idle(&self) -> bool {
        self.running == 0 && self.input.is_none()
    }

    fn emit(&mut self, index: usize, kind: EventKind) {
        if let Some(observer) = &mut self.config.observer {
            observer(&Event {
                index,
                kind,
                started: self.started,
                finished: self.finished,
                total: self.total,
            });
        }
    }

    /// Starts the next child, in input order, into a free slot; returns
    /// the slot, or `None` if the input is exhausted.
    fn launch_next(&mut self) -> Option<usize> {
        let future = self.next_input()?;
        let index = self.started;
        self.started += 1;
        self.running += 1;
        let child = self.launch.launch(future, index);
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                // At most min(limit, inputs) slots are ever needed: a new
                // chunk is no larger than what is left of that.
                let slots = self.total.map_or(usize::MAX, |t| t.min(self.config.limit));
                self.slab.vacant(slots.saturating_sub(self.slab.len()))
            }
        };
        if let Some((state, _)) = &self.watch {
            state.child_started();
        }
        let meta = SlotMeta {
            index_flag: index,
            guard: Guard::new(self.config.child_timeout, index, true),
        };
        self.slab.put(id, child, meta);
        self.emit(index, EventKind::Started);
        Some(id)
    }

    /// The next input, or `None` once it is exhausted (then no slot will
    /// be reused: the slab is sealed).
    #[inline]
    fn next_input(&mut self) -> Option<I::Item> {
        let next = self.input.as_mut()?.next();
        if next.is_none() {
            self.input_exhausted();
        }
        next
    }

    /// Out of line, so that [`next_input`](Self::next_input) stays small
    /// enough to be inlined: not inlined, it returned each child through
    /// one more copy (+25% time per yield-once child, measured).
    #[cold]
    fn input_exhausted(&mut self) {
        self.launch.input_exhausted();
        if let Some((state, _)) = &self.watch {
            state.settle_one();
        }
        self.input = None;
        self.free = Vec::new();
        self.slab.seal();
    }

    /// Takes the next input without starting it (its timeout is zero) and
    /// reports it as started and timed out; returns its index, or `None` if
    /// the input is exhausted.
    fn skip_next(&mut self) -> Option<usize> {
        let next = self.next_input()?;
        Some(self.time_out_unstarted(next))
    }

    /// After [`finish`](Self::finish) with `TimedOut`: the next input never
    /// started, dropped and reported as started and timed out; its index,
    /// or `None` once the input is exhausted. Each call takes one input, so
    /// the rest of an input far larger than memory (or endless) is walked
    /// only as far as the caller goes.
    pub(crate) fn expire_next(&mut self) -> Option<usize> {
        let next = self.rest.as_mut()?.next();
        match next {
            Some(next) => Some(self.time_out_unstarted(next)),
            None => {
                self.drop_rest();
                None
            }
        }
    }

    /// After [`finish`](Self::finish) with `TimedOut`: drops the inputs never
    /// started without walking them (a `Task` among them is aborted and
    /// awaited with the others).
    pub(crate) fn drop_rest(&mut self) {
        let scope = AbortScope::enter();
        drop_unwinding_nowhere(self.rest.take());
        self.stopping.extend(scope.exit());
    }

    /// Drops `next` unstarted and reports it as started and timed out.
    fn time_out_unstarted(&mut self, next: I::Item) -> usize {
        // A `Task` it holds is aborted and awaited with the others.
        let scope = AbortScope::enter();
        drop_unwinding_nowhere(next);
        self.stopping.extend(scope.exit());
        let index = self.started;
        self.started += 1;
        self.emit(index, EventKind::Started);
        self.finished += 1;
        self.emit(index, EventKind::Finished(OutcomeKind::TimedOut));
        index
    }

    /// Polls the child in slot `id` once; on completion frees the slot and
    /// returns the child's index and outcome.
    fn poll_slot(&mut self, id: usize) -> Option<Finished<L, I::Item>> {
        let (launch, stopping, watch) = (&self.launch, &mut self.stopping, &self.watch);
        let mut scope = None;
        let (meta, outcome, dropped) = self.slab.poll(id, |mut child, meta, cx| {
            let polled = match watch {
                None => meta.guard.poll(child.as_mut(), cx),
                Some((state, fail_fast)) => {
                    poll_watched(state, *fail_fast, meta, child.as_mut(), cx)
                }
            };
            if let Poll::Ready(Outcome::TimedOut) = &polled {
                // Past its deadline and given up on: a spawned child is
                // aborted here, and awaited before the operation returns;
                // so are the `Task`s dropped with an in-place one (the
                // slab drops it on return).
                stopping.extend(launch.stop(child));
                scope = Some(AbortScope::enter());
            }
            polled
        })?;
        // Only a child that finished opened a scope. (Taking the result
        // apart first keeps it in place: held across this, it was copied
        // once more per child.)
        if let Some(scope) = scope {
            self.stopping.extend(scope.exit());
        }
        // A child whose `Drop` panicked (it is dropped as it finishes)
        // panicked: its value, if it had one, is not delivered.
        let outcome = match dropped {
            Ok(()) => outcome,
            Err(panic) => Outcome::Panicked(panic),
        };
        let index = meta.index();
        if self.input.is_some() {
            self.free.push(id);
        }
        self.running -= 1;
        self.finished += 1;
        self.emit(index, EventKind::Finished(outcome.kind()));
        Some((index, outcome))
    }

    /// `true` when more children could start now.
    fn can_start(&self) -> bool {
        self.input.is_some() && self.running < self.config.limit
    }

    /// Drives children until every one has finished (`Ready(Continue)`),
    /// `on_done` asks to stop (`Ready(Break)`), or nothing is ready
    /// (`Pending`, with a wake-up arranged).
    ///
    /// `on_done` gets each finished child's index and outcome, in completion
    /// order. After `Break` the driver can be polled again to continue.
    pub(crate) fn poll_drive(
        &mut self,
        cx: &mut Context<'_>,
        mut on_done: impl FnMut(usize, Outcome<L::Ok, L::Err>) -> ControlFlow<()>,
    ) -> Poll<ControlFlow<()>> {
        let mut work = 0;
        // Children given up on during the run (past their deadline) are
        // let go as they stop, rather than all at the end.
        if !self.stopping.is_empty() {
            let _ = self.poll_stopped(cx);
        }
        // Whether this call has registered `cx`'s waker with the queue yet.
        let mut registered = false;
        // Children that woke since the last turn are polled before any new
        // child starts: finished ones free their slots for the next inputs,
        // so a gather of a million yield-once children keeps a few thousand
        // slots, still in cache, instead of starting all million first
        // (1M yield-once: 41 MiB instead of 242, and faster).
        if self.batch_pos == self.batch.len() {
            self.refill(cx.waker());
            registered = true;
        }
        loop {
            // Children that were woken, in the order they woke.
            while self.batch_pos < self.batch.len() {
                let id = self.batch[self.batch_pos];
                self.batch_pos += 1;
                if let Some(end) = self.step(id, &mut work, cx, &mut on_done) {
                    return end;
                }
            }
            // New children, in input order, each polled as it starts: one
            // that finishes at once frees its slot for the next, so a run of
            // ready children needs a single slot.
            while self.can_start() {
                if self.config.child_timeout == Some(Duration::ZERO) {
                    // Python's `wait_for(child, 0)` never starts the child.
                    let Some(index) = self.skip_next() else { break };
                    work += 1;
                    if on_done(index, Outcome::TimedOut).is_break() {
                        return Poll::Ready(ControlFlow::Break(()));
                    }
                    // The same bound on a turn as every child poll.
                    if work >= WORK_PER_TURN {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    continue;
                }
                let Some(id) = self.launch_next() else { break };
                if let Some(end) = self.step(id, &mut work, cx, &mut on_done) {
                    return end;
                }
            }
            // Once `cx`'s waker is registered, an empty queue needs no lock:
            // any wake this misses will wake that waker. Saves a lock per
            // turn when children wake one at a time.
            if registered && self.slab.queue().is_empty() {
                self.batch.clear();
                self.batch_pos = 0;
            } else {
                self.refill(cx.waker());
                registered = true;
            }
            if self.batch.is_empty() {
                return if self.is_idle() {
                    Poll::Ready(ControlFlow::Continue(()))
                } else {
                    Poll::Pending
                };
            }
        }
    }

    /// Replaces the (spent) batch with every id queued since, and registers
    /// `waker` for the next wake.
    fn refill(&mut self, waker: &Waker) {
        self.batch.clear();
        self.batch_pos = 0;
        self.slab.queue().drain_into(&mut self.batch, waker);
    }

    /// Polls slot `id` as one unit of this turn's work, reporting it if it
    /// finished. `Some` when the turn must end here: `on_done` asked to stop,
    /// or the turn's work or tokio's budget is spent.
    fn step(
        &mut self,
        id: usize,
        work: &mut usize,
        cx: &mut Context<'_>,
        on_done: &mut impl FnMut(usize, Outcome<L::Ok, L::Err>) -> ControlFlow<()>,
    ) -> Option<Poll<ControlFlow<()>>> {
        *work += 1;
        if let Some((index, outcome)) = self.poll_slot(id) {
            if on_done(index, outcome).is_break() {
                return Some(Poll::Ready(ControlFlow::Break(())));
            }
        }
        // When tokio's budget is spent, every further child would only
        // answer Pending and ask to be polled again: yield the whole gather
        // once instead.
        if *work >= WORK_PER_TURN || !tokio::task::coop::has_budget_remaining() {
            cx.waker().wake_by_ref();
            return Some(Poll::Pending);
        }
        None
    }

    /// Ends the run as `ending` says (see [`Ending`] for the whole policy):
    /// what is still running is dropped, aborted (to be awaited with
    /// [`poll_stopped`](Self::poll_stopped)) or detached and reported
    /// finished; with `TimedOut`, `each` gets the index of every child so
    /// stopped, ascending, and the rest of the input is kept for
    /// [`expire_next`](Self::expire_next) or [`drop_rest`](Self::drop_rest);
    /// otherwise it is dropped unstarted, never walked.
    pub(crate) fn finish(&mut self, ending: Ending, mut each: impl FnMut(usize)) {
        // `Task`s among what is dropped here (children passed as tasks,
        // tasks a child holds) are collected to be awaited too.
        let scope = AbortScope::enter();
        let mut stopped: Vec<usize> = Vec::with_capacity(self.running);
        let (launch, stopping) = (&self.launch, &mut self.stopping);
        self.slab.for_each_running(|meta, mut child| {
            stopped.push(meta.index());
            // A fail-fast end offers each sibling to the launch strategy
            // first: `keep_siblings` detaches spawned ones to run on.
            if ending == Ending::Failed && launch.release(child.as_mut()) {
                return;
            }
            stopping.extend(launch.stop(child));
        });
        self.slab.clear();
        self.running = 0;
        stopped.sort_unstable();
        let input = self.input.take();
        let timed_out = ending == Ending::TimedOut;
        if timed_out {
            self.rest = input;
        } else {
            drop_unwinding_nowhere(input);
        }
        self.stopping.extend(scope.exit());
        let kind = if timed_out {
            OutcomeKind::TimedOut
        } else {
            OutcomeKind::Cancelled
        };
        for index in stopped {
            self.finished += 1;
            self.emit(index, EventKind::Finished(kind));
            if timed_out {
                each(index);
            }
        }
        self.free.clear();
        self.batch.clear();
        self.batch_pos = 0;
    }

    /// The input index of every running child, ascending.
    pub(crate) fn running_indices(&mut self) -> Vec<usize> {
        let mut indices = Vec::with_capacity(self.running);
        self.slab
            .for_each_running(|meta, _| indices.push(meta.index()));
        indices.sort_unstable();
        indices
    }

    /// `Ready` once every child given up on has really stopped. An awaited
    /// end (an error, a cancel, a timeout) returns only after this, so that
    /// nothing the operation started outlives it; on success, and for
    /// in-place children, there is nothing to wait for.
    pub(crate) fn poll_stopped(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.stopping
            .retain_mut(|s| s.as_mut().poll(cx).is_pending());
        if self.stopping.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
