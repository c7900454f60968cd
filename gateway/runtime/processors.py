"""Message processors (W: message/processor/impl/*): take messages from a store, one at a time, and deliver them.

- forwarding (W: ScheduledMessageForwardingProcessor, ForwardingService): send the message to the target
  endpoint. A 2xx reply (or a status in non.retry.status.codes) is a success: the reply goes through
  message.processor.reply.sequence and the message leaves the store. Otherwise the reply (or the error) goes
  through message.processor.fault.sequence and the delivery is retried after client.retry.interval; after
  max.delivery.attempts the processor deactivates (the message stays first in the store), or with
  max.delivery.drop=Enabled the message is dropped (or moved to message.processor.failMessagesStore) and the
  processor goes on.
- sampling (W: SamplingProcessor, SamplingService): every interval, up to `concurrency` messages are injected
  into `sequence`.

A Processors object runs them for whatever configuration is being served: it reconciles every tick, so a hot
deployment or an activate/deactivate from the management API takes effect without a restart.

A processor is `member.count` consumers of its store (W: ScheduledMessageProcessor schedules that many tasks,
default 1, and the cluster's task manager runs each on one node). With `--workers N` a store the workers share
(SQLite, PostgreSQL, MySQL, RabbitMQ) is read by consumer i in the worker of index i mod N (runtime.tasks
worker_index), so by the first worker alone by default, the one that runs the tasks:
in store order, one message at a time, at one interval's pace, as on one MI node. An in-memory store is each
worker's own: every worker runs the processor on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.message.stored import restore
from gateway.runtime.faults import record_error, run_guarded
from gateway.runtime.pacing import Pacer
from gateway.runtime.stores import LEASE_SECONDS, renew_leases
from gateway.runtime.tasks import seconds_to_next, worker_index

if TYPE_CHECKING:
    from gateway.errors import SourceLocation
    from gateway.expressions import Value
    from gateway.runtime.services import Services
    from gateway.runtime.state import RuntimeState
    from gateway.runtime.stores import Delivery, MessageStoreSpec

log = logging.getLogger("gateway.processors")

_RECONCILE_SECONDS = 0.2
_MAX_RETRY_WAIT = 300.0  # seconds: a progression factor never makes a retry wait longer


@dataclass(frozen=True, slots=True)
class MessageProcessorSpec:
    name: str
    kind: str  # forwarding | sampling | failover
    mi_class: str
    store: str
    parameters: tuple[tuple[str, str], ...]
    target_endpoint: str | None = None
    interval: float = 1.0  # seconds (MI: milliseconds, default 1000)
    retry_interval: float = 1.0
    retry_factor: float = 1.0  # extension: client.retry.progression.factor (MI: a constant interval)
    max_attempts: int = 4  # W: ForwardingService maxDeliverAttempts; <= 0: forever
    drop_after_max: bool = False
    reply_sequence: str | None = None
    fault_sequence: str | None = None
    deactivate_sequence: str | None = None
    fail_store: str | None = None
    non_retry_codes: frozenset[int] = frozenset()
    sequence: str | None = None  # sampling
    concurrency: int = 1  # sampling
    active: bool = True  # is.active
    location: SourceLocation | None = None
    # Extensions (docs/operations.md): deliver through a sequence instead of an endpoint, and pace per key.
    target_sequence: str | None = None  # message.processor.target.sequence
    pacing: Pacing | None = None
    # W: ScheduledMessageProcessor cronExpression (in croniter's field order): the processor runs on each fire.
    cron: str | None = None
    # W: ForwardingService: with cron.expression and throttle.interval a fire drains the store, pausing this long
    # between messages; otherwise it forwards for up to a second (throttle, the default) or one message.
    drain_pause: float | None = None
    throttle: bool = True
    target_store: str | None = None  # failover: message.target.store.name
    member_count: int = 1  # W: ScheduledMessageProcessor memberCount: consumers of the store, across the workers

    @property
    def type(self) -> str:
        """MI's MessageProcessorResource type names."""
        return _TYPE_NAMES[self.kind]


_TYPE_NAMES = {
    "forwarding": "Scheduled-message-forwarding-processor",
    "sampling": "Sampling-processor",
    "failover": "Failover-scheduled-message-forwarding-processor",
}


@dataclass(frozen=True, slots=True)
class Pacing:
    """pacing.key / pacing.units / pacing.rate ({expression} values, resolved on each stored message),
    pacing.redis (a Redis URL: the schedule is shared by every node using it), pacing.concurrency."""

    key: Value
    units: Value | None
    rate: Value
    redis_url: str | None = None
    concurrency: int = 16


class Processors:
    """Runs the message processors of the served configuration in this process."""

    def __init__(self, state: RuntimeState, services: Services) -> None:
        self.state = state
        self.services = services
        # (name, consumer number) -> the spec it runs and its task
        self._running: dict[tuple[str, int], tuple[MessageProcessorSpec, asyncio.Task[None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._worker = worker_index()

    def start(self) -> None:
        self._task = asyncio.create_task(self._reconcile_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, task in self._running.values():
            task.cancel()
        for spec, running in list(self._running.values()):
            try:
                await running
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # noqa: BLE001 - a driver may turn the cancellation into its own error
                log.debug("message processor %s stopped: %s", spec.name, exc)
        self._running.clear()

    def is_active(self, spec: MessageProcessorSpec) -> bool:
        return self.state.processor_active.get(spec.name, spec.active)

    async def _reconcile_forever(self) -> None:
        while True:
            try:
                self.reconcile()
            except Exception:  # a bug here must not stop every processor for good
                log.exception("message processors: reconciling failed")
            await asyncio.sleep(_RECONCILE_SECONDS)

    def _finished(self, name: str, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("message processor %s stopped on an error; restarting it", name, exc_info=task.exception())

    def reconcile(self) -> None:
        config = self.state.config
        workers = self.services.settings.workers
        wanted = {
            (name, consumer): spec
            for name, spec in config.message_processors.items()
            if self.is_active(spec)
            for consumer in consumers_here(spec, config, self._worker, workers)
        }
        for key, (spec, task) in list(self._running.items()):
            if wanted.get(key) is not spec or task.done():
                task.cancel()
                del self._running[key]
        for key, spec in wanted.items():
            if key not in self._running:
                run = self._sample if spec.kind == "sampling" else self._forward
                task = asyncio.create_task(run(spec), name=f"processor {spec.name}")
                task.add_done_callback(functools.partial(self._finished, spec.name))
                self._running[key] = (spec, task)

    def _deactivate(self, spec: MessageProcessorSpec, why: str) -> None:
        log.error("message processor %s deactivated: %s", spec.name, why)
        self.state.deactivate_processor(spec.name)

    # -- forwarding --------------------------------------------------------------------------------
    async def _forward(self, spec: MessageProcessorSpec) -> None:
        async with _Leases(self, spec) as leases:
            if spec.pacing is not None:
                await self._forward_paced(spec, spec.pacing, leases)
                return
            if spec.cron is not None:
                while True:
                    await asyncio.sleep(seconds_to_next(spec.cron))
                    _unless_stopping()
                    if not await self._fire(spec, leases):
                        return
            # MI's pacing: one message, then the interval. A short interval is a store being drained: each
            # delivered message is then settled together with the lease of the next (one commit, _ack).
            chain = spec.interval <= _CHAIN_MAX_INTERVAL
            while await self._forward_one(spec, leases, chain) is not False:
                await asyncio.sleep(spec.interval)

    async def _fire(self, spec: MessageProcessorSpec, leases: _Leases) -> bool:
        """One cron trigger (W: ForwardingService.execute under a cron expression): with cron.expression and
        throttle.interval the store is drained, pausing throttle.interval between messages; otherwise messages
        are forwarded for up to a second (MI's hand-back to Quartz), or just one with throttle=false. False when
        the processor stopped (deactivated)."""
        started = time.monotonic()
        while True:
            # Draining (throttle.interval): it goes on until the store is empty, so the next message may be
            # leased with the settle of the last one. Otherwise the fire may end after any message: no chaining.
            settled = await self._forward_one(spec, leases, spec.drain_pause is not None)
            if settled is None:
                return True
            if not settled:
                return False
            if spec.drain_pause is not None:
                await asyncio.sleep(spec.drain_pause)
            elif not spec.throttle or time.monotonic() - started > 1.0:
                return True

    async def _forward_one(self, spec: MessageProcessorSpec, leases: _Leases, chain: bool = False) -> bool | None:
        """Take the next message (the one leased with the last settle, if any) and settle it, its lease held
        meanwhile: None when the store had none, else _settle's answer (False: the processor stopped). With
        `chain`, a delivered message is acknowledged together with the lease of the next (leases.ahead)."""
        _unless_stopping()
        delivery, leases.ahead = leases.ahead, None
        if delivery is None:
            delivery = await self._take(spec)
        if delivery is None:
            return None
        try:
            with leases.holding(delivery):
                return await self._settle(spec, delivery, None, leases if chain else None)
        except asyncio.CancelledError:
            await _quietly(delivery.release())
            raise

    async def _take(self, spec: MessageProcessorSpec) -> Delivery | None:
        taken = await self._take_many(spec, 1)
        return taken[0] if taken else None

    async def _take_many(self, spec: MessageProcessorSpec, count: int) -> list[Delivery]:
        """Up to `count` messages in store order (one transaction where the store can: SQLite)."""
        store = self.state.config.message_stores.get(spec.store)
        if store is None:
            return []
        try:
            backend = self.services.stores.backend(store)
            many = getattr(backend, "take_many", None)
            if many is not None:
                taken = list(await many(count))
            else:
                delivery = await backend.take()
                taken = [] if delivery is None else [delivery]
        except Exception as exc:  # noqa: BLE001 - the store is down: try again later
            _unless_stopping(exc)
            log.warning("message processor %s: store %s unavailable: %s", spec.name, spec.store, exc)
            return []
        if _cancelling():  # taken as the processor was stopped: handed back at once
            for delivery in taken:
                await _quietly(delivery.release())
            _unless_stopping()
        return taken

    async def _settle(
        self, spec: MessageProcessorSpec, delivery: Delivery, pace: _Pace | None, chain: _Leases | None = None
    ) -> bool:
        """Deliver one message until it is delivered, dropped or parked (True), or the processor stops (False).
        With `chain`, the acknowledgement also leases the store's next message into chain.ahead (_ack)."""
        attempts = 0
        while True:
            _unless_stopping()
            if pace is not None:
                await asyncio.sleep(await pace.reserve())
            if not self.is_active(spec):
                await delivery.release()
                return False
            attempts += 1
            if pace is not None:
                await pace.sent()
            left = time.monotonic()
            outcome, failed = await self._deliver_once(spec, delivery, attempts)
            if pace is not None:
                await pace.answered(time.monotonic() - left)
            if outcome == "done":
                await _ack(delivery, chain)
                return True
            if outcome == "deactivate":
                await delivery.release()
                return False
            if outcome == "park":  # a failure no retry can mend (non.retry.status.codes on a target sequence)
                await self._park(spec, delivery, failed)
                await _ack(delivery, chain)
                return True
            if spec.max_attempts > 0 and attempts >= spec.max_attempts:
                if spec.drop_after_max:
                    log.warning(
                        "message processor %s: dropping message %s after %d failed attempts",
                        spec.name,
                        delivery.message.message_id,
                        attempts,
                    )
                    await self._park(spec, delivery, failed)
                    await _ack(delivery, chain)
                    return True
                await delivery.release()
                self._run_named(spec.deactivate_sequence, delivery)
                target = spec.target_endpoint or spec.target_sequence or spec.target_store
                self._deactivate(spec, f"{attempts} delivery attempts to {target} failed")
                return False
            await asyncio.sleep(min(spec.retry_interval * spec.retry_factor ** (attempts - 1), _MAX_RETRY_WAIT))

    async def _forward_paced(self, spec: MessageProcessorSpec, pacing: Pacing, leases: _Leases) -> None:
        """Every message held waits in its key's lane for its key's slot: a busy key does not hold up the others
        while the processor holds fewer than pacing.concurrency messages, and one key's messages keep their store
        order (their slots are reserved in that order). The leases of the messages held are renewed (_Leases), so
        a message that waits longer than its store's lease is not handed out again while this node lives."""
        pacer = Pacer(pacing.redis_url, prefix=f"gateway:pace:{spec.name}:")
        in_flight: set[asyncio.Task[bool]] = set()
        # Each key's slots are reserved and its sends leave in the order taken (asyncio.Lock is first come, first
        # served); a retried message queues again behind the key's waiting ones.
        locks: dict[str, asyncio.Lock] = {}
        try:
            while True:
                _unless_stopping()
                while len(in_flight) < max(1, pacing.concurrency):
                    taken = await self._take_many(spec, min(_TAKE_BATCH, max(1, pacing.concurrency) - len(in_flight)))
                    if not taken:
                        break
                    for delivery in taken:
                        try:
                            pace = await _Pace.of(pacing, pacer, delivery, self.state.config, self.services)
                        except Exception as exc:  # noqa: BLE001 - a message the pacing cannot read is parked
                            _unless_stopping(exc)
                            log.error("message processor %s: cannot pace message: %s", spec.name, exc)
                            await self._park(spec, delivery, None)
                            await delivery.ack()
                            continue
                        pace.turn = locks.setdefault(pace.key, asyncio.Lock())
                        leases.hold(delivery)
                        task = asyncio.create_task(self._settle_released(spec, delivery, pace))
                        task.add_done_callback(functools.partial(leases.drop_after, delivery))
                        in_flight.add(task)
                if not in_flight:
                    await asyncio.sleep(spec.interval)
                    continue
                done, _ = await asyncio.wait(in_flight, timeout=spec.interval, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    in_flight.discard(task)
                    if task.exception() is not None:  # a bug: logged; the message comes back after its lease
                        log.error("message processor %s: delivery failed", spec.name, exc_info=task.exception())
                        continue
                    if not task.result():
                        for other in in_flight:
                            other.cancel()
                        await asyncio.gather(*in_flight, return_exceptions=True)
                        return
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            await pacer.close()

    async def _settle_released(self, spec: MessageProcessorSpec, delivery: Delivery, pace: _Pace) -> bool:
        try:
            return await self._settle(spec, delivery, pace)
        except asyncio.CancelledError:
            await _quietly(delivery.release())
            raise
        finally:
            pace.let_go()

    async def _deliver_once(self, spec: MessageProcessorSpec, delivery: Delivery, attempt: int = 1) -> tuple[str, Any]:
        """One delivery: ("done" | "retry" | "deactivate" | "park", the failed context) (W: ForwardingService)."""
        config = self.state.config
        ctx = restore(delivery.message, config, self.services)
        try:
            if spec.target_store is not None:
                return await self._to_store(spec, delivery, ctx)
            if spec.target_sequence is not None:
                return await self._through_sequence(spec, ctx, attempt)
            return await self._to_endpoint(spec, ctx)
        finally:
            if ctx.exchange.pending:  # the copies of a split (iterate, clone) in the sequence end first
                await ctx.exchange.settle()
            for close in ctx.exchange.closing_tasks:
                close()

    async def _through_sequence(self, spec: MessageProcessorSpec, ctx: Any, attempt: int) -> tuple[str, Any]:
        """Extension: the message runs through a sequence (a connector operation, say); it is delivered when
        the sequence ends without a fault. A fault whose status is in non.retry.status.codes is parked."""
        sequence = ctx.config.sequences.get(spec.target_sequence)
        if sequence is None:
            log.error("message processor %s: target sequence %s is not deployed", spec.name, spec.target_sequence)
            return "retry", None
        ctx.fault_stack = []
        ctx.properties["message.processor.attempt"] = attempt
        try:
            await sequence.mediate(ctx)
        except Exception as exc:  # noqa: BLE001 - a failed delivery is retried or parked
            _unless_stopping(exc)
            record_error(ctx, exc)
            status = _status(ctx)
            log.warning(
                "message processor %s: sequence %s failed (HTTP_SC %s): %s",
                spec.name,
                spec.target_sequence,
                status,
                ctx.properties.get("ERROR_MESSAGE"),
            )
            park = status in spec.non_retry_codes
            last = spec.max_attempts > 0 and attempt >= spec.max_attempts
            # Extension: the fault sequence knows which attempt failed and whether another will follow.
            ctx.properties["message.processor.attempt"] = attempt
            ctx.properties["message.processor.final"] = "true" if park or (last and spec.drop_after_max) else "false"
            await self._run_sequence(spec.fault_sequence, ctx)
            return ("park" if park else "retry"), ctx
        return "done", None

    async def _to_store(self, spec: MessageProcessorSpec, delivery: Delivery, ctx: Any) -> tuple[str, Any]:
        """W: FailoverForwardingService.dispatch: the message goes into the target store; it leaves the source
        store (acknowledged by _settle) only once the target holds it durably."""
        target: MessageStoreSpec | None = ctx.config.message_stores.get(spec.target_store)
        try:
            if target is None:
                raise LookupError(f"message store {spec.target_store} is not deployed")
            await self.services.stores.put(target, delivery.message, ctx)
        except Exception as exc:  # noqa: BLE001 - retried, as in MI
            _unless_stopping(exc)
            log.error(
                "Message store messageSender of message processor [%s] failed to send message to the target "
                "message store %s: %s",
                spec.name,
                spec.target_store,
                exc,
            )
            record_error(ctx, exc)
            await self._run_sequence(spec.fault_sequence, ctx)
            return "retry", ctx
        return "done", None

    async def _to_endpoint(self, spec: MessageProcessorSpec, ctx: Any) -> tuple[str, Any]:
        config = ctx.config
        target = spec.target_endpoint or ctx.properties.get("target.endpoint")
        if target is None:
            self._deactivate(
                spec,
                "Neither targetEndpoint defined in the MessageProcessor configuration nor Property "
                "target.endpoint is found in the message context",
            )
            return "deactivate", None
        endpoint = config.endpoints.get(str(target))
        if endpoint is None:
            log.error("message processor %s: target endpoint %s is not deployed", spec.name, target)
            return "retry", None
        try:
            reply = await endpoint.send(ctx)
        except Exception as exc:  # noqa: BLE001 - a failed delivery is retried, as in MI
            _unless_stopping(exc)
            log.error("message processor %s failed to forward message to endpoint %s: %s", spec.name, target, exc)
            record_error(ctx, exc)
            await self._run_sequence(spec.fault_sequence, ctx)
            return "retry", ctx
        out_only = str(ctx.properties.get("OUT_ONLY", ctx.axis2.get("OUT_ONLY", ""))).lower() == "true"
        status = _status(reply)
        if not (200 <= status < 300 or status in spec.non_retry_codes):
            log.info(
                "Message processor [%s] received a response with HTTP_SC: %s from backend %s. "
                "Message forwarding failed.",
                spec.name,
                status,
                target,
            )
            await self._run_sequence(spec.fault_sequence, reply)
            return "retry", reply
        if out_only:
            await reply.payload.read()
            return "done", None
        if spec.reply_sequence is None or config.sequences.get(spec.reply_sequence) is None:
            # W: sendThroughReplySeq deactivates the processor; the message stays in the store.
            self._deactivate(
                spec,
                "the backend replied but no message.processor.reply.sequence is deployed "
                "(set OUT_ONLY=true before the store mediator when no reply is wanted, as in MI)",
            )
            return "deactivate", None
        await self._run_sequence(spec.reply_sequence, reply)
        return "done", None

    async def _run_sequence(self, name: str | None, ctx: Any) -> None:
        if name is None:
            return
        sequence = ctx.config.sequences.get(name)
        if sequence is None:
            log.warning("message processor sequence %s is not deployed", name)
            return
        ctx.fault_stack = []
        try:
            await run_guarded(sequence, ctx)
            if ctx.exchange.pending:  # the copies of a split (iterate, clone) in the sequence
                await ctx.exchange.settle()
        except Exception as exc:  # noqa: BLE001 - a failing sequence must not stop the processor
            _unless_stopping(exc)
            log.warning("message processor sequence %s failed: %s", name, exc)

    def _run_named(self, name: str | None, delivery: Delivery) -> None:
        if name is not None:
            ctx = restore(delivery.message, self.state.config, self.services)
            task = asyncio.create_task(self._run_sequence(name, ctx))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)

    async def _park(self, spec: MessageProcessorSpec, delivery: Delivery, failed: Any) -> None:
        """W: storeMessageToBackupStoreAndContinue: a dropped message goes to the fail store when one is set,
        with the ERROR_* properties of its last failure (extension: MI keeps only the message)."""
        if spec.fail_store is None:
            return
        store: MessageStoreSpec | None = self.state.config.message_stores.get(spec.fail_store)
        if store is None:
            log.error("message processor %s: fail store %s is not deployed", spec.name, spec.fail_store)
            return
        message = delivery.message
        if failed is not None:
            errors = {k: v for k, v in failed.properties.items() if k.startswith("ERROR_") and k != "ERROR_DETAIL"}
            errors["HTTP_SC"] = _status(failed)
            message = dataclasses.replace(message, properties={**message.properties, **errors})
        await self.services.stores.put(store, message, restore(message, self.state.config, self.services))

    # -- sampling ----------------------------------------------------------------------------------
    async def _sample(self, spec: MessageProcessorSpec) -> None:
        while True:
            _unless_stopping()
            if spec.cron is not None:  # W: SamplingService.execute runs once per trigger
                await asyncio.sleep(seconds_to_next(spec.cron))
            config = self.state.config
            store = config.message_stores.get(spec.store)
            if store is not None and spec.sequence is not None:
                backend = self.services.stores.backend(store)
                for _ in range(max(1, spec.concurrency)):
                    try:
                        delivery = await backend.take()
                    except Exception as exc:  # noqa: BLE001 - the store is down: try again later
                        _unless_stopping(exc)
                        log.warning("message processor %s: store %s unavailable: %s", spec.name, spec.store, exc)
                        break
                    if delivery is None:
                        break
                    # W: SamplingService takes the message off the store, then injects it.
                    await delivery.ack()
                    ctx = restore(delivery.message, config, self.services)
                    await self._run_sequence(spec.sequence, ctx)
            if spec.cron is None:
                await asyncio.sleep(spec.interval)


_BACKGROUND: set[asyncio.Task[None]] = set()
_TAKE_BATCH = 100  # messages a paced processor takes from its store in one go
# Up to this interval (seconds) a forwarding processor leases its next message with the settle of the last (one
# commit, not two). Beyond it the processor forwards a few messages a second at most, where a commit saved is
# nothing, and the next message would stay leased through the whole interval: hidden from the other nodes'
# processors meanwhile, and, if this node dies then, back only once its lease ends, after later messages.
_CHAIN_MAX_INTERVAL = 0.1


async def _ack(delivery: Delivery, chain: _Leases | None) -> None:
    """Acknowledge a settled message. With `chain` and a store that can (the JDBC stores), the same commit leases
    the store's next message, which waits in chain.ahead (its lease renewed) for the processor's next turn: one
    commit a forwarded message instead of two. A store whose call is cancelled (the processor stops) releases
    the message it leased at once rather than leaving it hidden until its lease ends."""
    settle_and_take = getattr(delivery, "ack_and_take", None)
    if chain is None or settle_and_take is None:
        await delivery.ack()
        return
    ahead = await settle_and_take()
    if ahead is not None:
        chain.ahead = ahead
        chain.hold(ahead)


class _Leases:
    """The messages a processor holds, whose store leases it renews every third of the lease while it lives: a
    message waiting for its pacing slot or its next retry is not handed out again (W: MI's JDBC store has no
    lease; it hands a message to one consumer and forgets it). Only a dead holder's messages come back."""

    def __init__(self, processors: Processors, spec: MessageProcessorSpec) -> None:
        self.processors, self.spec = processors, spec
        self.held: dict[int, Delivery] = {}
        self.ahead: Delivery | None = None  # the next message, leased with the settle of the last (_ack)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def __aenter__(self) -> _Leases:
        self._task = asyncio.create_task(self._beat(), name=f"processor {self.spec.name} leases")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping = True  # a database driver may turn the cancellation into its own error: the beat ends
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        ahead, self.ahead = self.ahead, None
        if ahead is not None:  # the processor stops (deactivated, redeployed): the next message is first again
            self.drop(ahead)
            await _quietly(ahead.release())

    def hold(self, delivery: Delivery) -> None:
        self.held[id(delivery)] = delivery

    def drop(self, delivery: Delivery) -> None:
        self.held.pop(id(delivery), None)

    def drop_after(self, delivery: Delivery, _task: object) -> None:
        self.drop(delivery)

    @contextlib.contextmanager
    def holding(self, delivery: Delivery) -> Any:
        self.hold(delivery)
        try:
            yield
        finally:
            self.drop(delivery)

    def _lease(self) -> float:
        store = self.processors.state.config.message_stores.get(self.spec.store)
        return store.lease_seconds if store is not None else LEASE_SECONDS

    async def _beat(self) -> None:
        while not self._stopping:
            _unless_stopping()
            await asyncio.sleep(max(0.05, self._lease() / 3))
            if not self.held or self._stopping:
                continue
            try:
                await renew_leases(list(self.held.values()))
            except Exception as exc:  # noqa: BLE001 - the store is down: the next beat tries again
                _unless_stopping(exc)
                log.warning("message processor %s: renewing leases failed: %s", self.spec.name, exc)


def consumers_here(spec: MessageProcessorSpec, config: Any, worker: int | None, workers: int) -> range:
    """The numbers of the processor's consumers this process runs. An in-memory store is this worker's own: all
    of them. A store the workers share: consumer i runs in the worker of index i mod N (the first alone by
    default), so N workers deliver in store order and at the pace of one consumer, as one MI node does. A
    resequencing store's order lives in its one consumer (as in MI): the first worker runs it, whatever
    member.count says."""
    store = config.message_stores.get(spec.store)
    if store is not None and store.backend == "memory":
        return range(spec.member_count)
    if worker is None:
        return range(0)
    if store is not None and store.backend == "resequence":
        return range(1) if worker == 0 else range(0)
    return range(worker, spec.member_count, max(1, workers))


def _status(ctx: Any) -> int:
    try:
        return int(ctx.axis2.get("HTTP_SC") or 0)
    except (TypeError, ValueError):
        return 0


class _Pace:
    """One message's place in its key's schedule: reserve() gives the wait before each attempt. With `turn` (the
    key's lock, first come first served), a message holds its key from its reservation until its answer, so the
    key's slots are taken and its sends leave in store order; a key whose interval is shorter than a round trip
    lets the next message go on once the send leaves, so it is not held to one delivery per round trip."""

    __slots__ = ("pacer", "key", "units", "rate", "turn", "_holding")

    def __init__(self, pacer: Pacer, key: str, units: float, rate: float) -> None:
        self.pacer, self.key, self.units, self.rate = pacer, key, units, rate
        self.turn: asyncio.Lock | None = None
        self._holding = False

    async def reserve(self) -> float:
        if self.turn is not None and not self._holding:
            await self.turn.acquire()
            self._holding = True
        return await self.pacer.reserve(self.key, self.units, self.rate)

    async def sent(self) -> None:
        """The send leaves now: its slot is counted from now, so a send that was slow to leave (a busy event
        loop) does not bring the next one closer than the rate allows. The key's next message may go on."""
        await self.pacer.push(self.key, self.units, self.rate)
        fastest = self.pacer.fastest_answer
        if fastest is not None and self.units / self.rate < fastest:
            self.let_go()

    def let_go(self) -> None:
        if self._holding and self.turn is not None:
            self._holding = False
            self.turn.release()

    async def answered(self, round_trip: float) -> None:
        """Its answer came: a send slower to arrive than usual moves the next slot on (Pacer.answered)."""
        await self.pacer.answered(self.key, self.units, self.rate, round_trip)
        self.let_go()

    @staticmethod
    async def of(pacing: Pacing, pacer: Pacer, delivery: Delivery, config: Any, services: Any) -> _Pace:
        ctx = restore(delivery.message, config, services)
        for value in (pacing.key, pacing.units, pacing.rate):
            if value is not None and value.needs_body:
                await ctx.payload.read()
                break
        key = pacing.key.resolve(ctx) or ""
        units = float(pacing.units.resolve(ctx) or 1) if pacing.units is not None else 1.0
        rate = float(pacing.rate.resolve(ctx) or 0)
        if rate <= 0 or units <= 0:
            raise ValueError(f"pacing.rate ({rate}) and pacing.units ({units}) must be positive numbers")
        return _Pace(pacer, key, units, rate)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _unless_stopping(error: Exception | None = None) -> None:
    """Raise CancelledError when the running task is being cancelled. A task is told once, and a library may lose
    the news: a driver turns it into its own error (asyncmy's rollback after a cancelled statement raises
    InterfaceError), and Python 3.11's asyncio.wait_for (aiormq's and aio-pika's timeouts) returns the result of
    a call that completed as the cancellation came. A processor that went on would keep the gateway's shutdown
    waiting for it for ever; so its loops check here, besides taking errors for a store that is down."""
    if _cancelling():
        raise asyncio.CancelledError from error


async def _quietly(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable
