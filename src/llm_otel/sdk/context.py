"""Task / agent / prompt attribution on contextvars, with a task's running totals and budget.

One ``ContextVar`` holds an immutable ``Frame``: the innermost task, agent and prompt of
this context, plus the span attributes they imply, built ONCE when the scope is entered.
The attribution span processor (``sdk/attribution.py``) reads that single contextvar for
every span, so entering a scope is where the work goes, not starting a span.

Contextvars follow ``asyncio`` tasks automatically (each task copies the context it was
created in). Plain threads and thread pools do NOT inherit the context: wrap the callable
with ``bind(fn)`` (or run it in ``contextvars.copy_context()``) so its spans and calls are
attributed to the task that submitted it.

Nested tasks: a call is counted in the innermost task AND every enclosing task, so a
parent's ``budget_usd`` holds over everything done inside it; ``BudgetExceeded`` names the
task whose budget ran out.

Failure: entering or leaving a scope never raises into user code; if the span, baggage or
contextvar machinery fails, the block runs unattributed and the failure is logged at debug.
The only exception this module raises on purpose is ``BudgetExceeded`` from ``check_budget``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from llm_otel import semconv
from llm_otel.errors import BudgetExceeded

if TYPE_CHECKING:
    from llm_otel.pricing.usage import Usage
from llm_otel.sdk import quota, unchanged

log = logging.getLogger("llm_otel")

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound="_Scope")


class Frame:
    """What is current in one context. Immutable once built; a new scope makes a new frame.

    ``span_attrs`` go on every span started in this context; ``llm_attrs`` (``span_attrs``
    plus the prompt) on LLM spans. ``llm_attrs`` is ``span_attrs`` itself when no prompt is set.
    All values are ``str`` (validated here, once), ``longest`` characters at most.
    """

    __slots__ = (
        "agent_id",
        "agent_name",
        "llm_attrs",
        "longest",
        "prompt_template",
        "prompt_version",
        "span_attrs",
        "task",
    )

    def __init__(
        self,
        task: Task | None,
        agent_name: str | None,
        agent_id: str | None,
        prompt_template: str | None,
        prompt_version: str | None,
    ) -> None:
        self.task = task
        self.agent_name = agent_name
        self.agent_id = agent_id
        self.prompt_template = prompt_template
        self.prompt_version = prompt_version
        attrs: dict[str, AttributeValue] = {}
        if task is not None:
            attrs[semconv.TASK_ID] = task.id
            attrs[semconv.TASK_TYPE] = task.type
            if task.team is not None:
                attrs[semconv.TEAM] = task.team
        if agent_name is not None:
            attrs[semconv.GEN_AI_AGENT_NAME] = agent_name
        if agent_id is not None:
            attrs[semconv.GEN_AI_AGENT_ID] = agent_id
        self.span_attrs = attrs
        if prompt_template is not None:
            llm = dict(attrs)
            llm[semconv.PROMPT_TEMPLATE] = prompt_template
            if prompt_version is not None:
                llm[semconv.PROMPT_VERSION] = prompt_version
            self.llm_attrs = llm
        else:
            self.llm_attrs = attrs
        # The longest string value, so the span processor knows span limits will not truncate it.
        self.longest = max((len(v) for v in self.llm_attrs.values() if isinstance(v, str)), default=0)

    def replace(self, **changes: Any) -> Frame:
        values: dict[str, Any] = {
            "task": self.task,
            "agent_name": self.agent_name,
            "agent_id": self.agent_id,
            "prompt_template": self.prompt_template,
            "prompt_version": self.prompt_version,
        }
        values.update(changes)
        return Frame(**values)


_EMPTY = Frame(None, None, None, None, None)

# The one contextvar the span processor reads per span.
_frame: contextvars.ContextVar[Frame | None] = contextvars.ContextVar("llm_otel_frame", default=None)


def current_frame() -> Frame | None:
    """The attribution of this context, or ``None`` outside every task/agent/prompt. Never raises."""
    return _frame.get()


def current_task() -> Task | None:
    """The innermost task of this context, or ``None``."""
    frame = _frame.get()
    return frame.task if frame is not None else None


def bind(fn: F) -> F:
    """``fn`` wrapped to run in a copy of the CURRENT context: for threads and thread pools.

    ``executor.submit(llm_otel.sdk.context.bind(work), ...)`` attributes ``work``'s calls to
    the task that submitted it. (``asyncio`` tasks need nothing: they copy the context.)
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return ctx.copy().run(fn, *args, **kwargs)

    return cast(F, run)


# --- scopes: context manager + decorator, sync and async -------------------------


class _Scope:
    """Shared machinery: ``with``, ``async with`` and decorating sync or async functions.

    A decorated function gets a FRESH scope per call (``_fresh``), so concurrent calls do
    not share state and a task without an explicit id gets a new id each time.
    """

    __slots__ = ("_tokens",)

    def __init__(self) -> None:
        self._tokens: list[Any] = []

    def _fresh(self: S) -> S:
        raise NotImplementedError

    def _enter(self) -> Any:
        raise NotImplementedError

    def _exit(self, token: Any, exc: BaseException | None) -> None:
        """Work to do on leaving, before the outer context is restored (which always happens)."""

    def __enter__(self) -> Any:
        try:
            token = self._enter()
        except Exception:
            log.debug("llm-otel could not enter a scope; the block runs unattributed", exc_info=True)
            token = None
        self._tokens.append(token)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        token = self._tokens.pop() if self._tokens else None
        if token is None:
            return
        try:
            self._exit(token, exc)
        except Exception:
            log.debug("llm-otel could not leave a scope cleanly", exc_info=True)
        try:
            _reset(token)
        except Exception:
            log.debug("llm-otel could not restore the outer context", exc_info=True)

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            # A scope around a generator would be open between its yields, in the CALLER's
            # context: spans there would be misattributed. Fail at decoration, not silently.
            raise TypeError(
                f"llm_otel scopes cannot decorate the generator function {fn.__qualname__!r}; "
                "use `with llm_otel.task(...)` around the code that consumes it instead"
            )
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await fn(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return cast(F, run)


class _FrameToken:
    __slots__ = ("otel", "var")

    def __init__(self, var: contextvars.Token[Frame | None], otel: object | None = None) -> None:
        self.var = var
        self.otel = otel


def _reset(token: _FrameToken) -> None:
    try:
        if token.otel is not None:
            otel_context.detach(token.otel)  # type: ignore[arg-type]
    finally:
        try:
            _frame.reset(token.var)
        except ValueError:
            # Left in another context than it was entered in (e.g. a generator resumed
            # elsewhere): fall back to restoring the frame we replaced.
            _frame.set(token.var.old_value if token.var.old_value is not contextvars.Token.MISSING else None)


class Task(_Scope):
    """One unit of work whose LLM spend is attributed and totalled: ``with task(...) as t``.

    Running totals (``calls``, ``tokens``, ``cost_usd``) include nested tasks' calls.
    ``cost_usd`` is priced in-process with ``llm_otel.pricing`` (lazily, when read, unless
    a budget needs it at once); it stays 0.0 while no price is known for the model.
    """

    __slots__ = (
        "_cost",
        "_explicit_id",
        "_lock",
        "_pending",
        "_span",
        "_unpriced",
        "attributes",
        "budget_usd",
        "calls",
        "id",
        "parent",
        "status",
        "team",
        "tokens",
        "type",
    )

    def __init__(
        self,
        type: str,
        *,
        id: str | None = None,
        team: str | None = None,
        budget_usd: float | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        super().__init__()
        self.type = str(type)
        self.id = str(id) if id is not None else uuid.uuid4().hex
        self.team = str(team) if team is not None else None
        self.budget_usd = float(budget_usd) if budget_usd is not None else None
        self.attributes = dict(attributes) if attributes else None
        self.parent: Task | None = None
        self.calls = 0
        self.tokens = 0
        self._unpriced = 0
        self.status: str | None = None  # "ok" / "error" once the task has ended
        self._cost = 0.0
        self._pending: list[_PricedCall] = []
        self._lock = threading.Lock()
        self._span: trace.Span | None = None
        self._explicit_id = id is not None

    def __repr__(self) -> str:
        return (
            f"Task(type={self.type!r}, id={self.id!r}, team={self.team!r}, calls={self.calls}, "
            f"tokens={self.tokens}, cost_usd={self.cost_usd:.6f}, budget_usd={self.budget_usd})"
        )

    def __enter__(self) -> Task:
        super().__enter__()
        return self

    async def __aenter__(self) -> Task:
        return self.__enter__()

    def _fresh(self) -> Task:
        return Task(
            self.type,
            id=self.id if self._explicit_id else None,
            team=self.team,
            budget_usd=self.budget_usd,
            attributes=self.attributes,
        )

    @property
    def cost_usd(self) -> float:
        """USD spent by the calls in this task (and its nested tasks) so far."""
        with self._lock:
            if self._pending:
                pending, self._pending = self._pending, []
                for call in pending:
                    cost = call.cost()
                    if cost is None:
                        self._unpriced += 1
                    else:
                        self._cost += cost
            return self._cost

    @property
    def unpriced_calls(self) -> int:
        """Calls in ``calls`` that could not be priced (unknown model): they add nothing to ``cost_usd``."""
        _ = self.cost_usd
        return self._unpriced

    def _enter(self) -> _FrameToken:
        outer = _frame.get() or _EMPTY
        if not _in_chain(self, outer.task):  # re-entering a task that is already open keeps its parent
            self.parent = outer.task
        var_token = _frame.set(outer.replace(task=self))
        try:
            ctx = otel_context.get_current()
            ctx = baggage.set_baggage(semconv.BAGGAGE_TASK_ID, self.id, ctx)
            ctx = baggage.set_baggage(semconv.BAGGAGE_TASK_TYPE, self.type, ctx)
            if self.team is not None:
                ctx = baggage.set_baggage(semconv.BAGGAGE_TEAM, self.team, ctx)
            attrs: dict[str, AttributeValue] = {semconv.TASK_ID: self.id, semconv.TASK_TYPE: self.type}
            if self.team is not None:
                attrs[semconv.TEAM] = self.team
            if self.budget_usd is not None:
                attrs[semconv.TASK_BUDGET_USD] = self.budget_usd
            if self.attributes:
                attrs.update(self.attributes)
            from llm_otel.sdk.call import get_tracer

            span = get_tracer().start_span(
                f"{semconv.TASK_SPAN_NAME_PREFIX} {self.type}", context=ctx, kind=SpanKind.INTERNAL, attributes=attrs
            )
            self._span = span
            ctx = trace.set_span_in_context(span, ctx)
            return _FrameToken(var_token, otel_context.attach(ctx))
        except Exception:
            log.debug("llm-otel could not start a task span; the task is attributed without one", exc_info=True)
            return _FrameToken(var_token)

    def _exit(self, token: _FrameToken, exc: BaseException | None) -> None:
        self.status = "error" if exc is not None else "ok"
        span, self._span = self._span, None
        if span is not None:
            span.set_attribute(semconv.TASK_STATUS, self.status)
            if exc is not None:
                span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
            else:
                span.set_status(Status(StatusCode.OK))
            span.end()


def _in_chain(task: Task, node: Task | None) -> bool:
    while node is not None:
        if node is task:
            return True
        node = node.parent
    return False


class Agent(_Scope):
    """The agent (``gen_ai.agent.name``/``.id``) the spans inside belong to."""

    __slots__ = ("agent_id", "name")

    def __init__(self, name: str, *, id: str | None = None) -> None:
        super().__init__()
        self.name = str(name)
        self.agent_id = str(id) if id is not None else None

    def _fresh(self) -> Agent:
        return Agent(self.name, id=self.agent_id)

    def _enter(self) -> _FrameToken:
        outer = _frame.get() or _EMPTY
        return _FrameToken(_frame.set(outer.replace(agent_name=self.name, agent_id=self.agent_id)))


class Prompt(_Scope):
    """The prompt template (and version) the LLM calls inside are built from."""

    __slots__ = ("template", "version")

    def __init__(self, template: str, version: str | None = None) -> None:
        super().__init__()
        self.template = str(template)
        self.version = str(version) if version is not None else None

    def _fresh(self) -> Prompt:
        return Prompt(self.template, self.version)

    def _enter(self) -> _FrameToken:
        outer = _frame.get() or _EMPTY
        return _FrameToken(_frame.set(outer.replace(prompt_template=self.template, prompt_version=self.version)))


def task(
    type: str,
    *,
    id: str | None = None,
    team: str | None = None,
    budget_usd: float | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Task:
    """A task scope: ``with task("review", team="secops") as t:`` or ``@task("review")``.

    ``id`` defaults to a fresh random id (per call when used as a decorator). ``attributes``
    go on the task's own span. Emits one INTERNAL span ``llm_otel.task {type}`` that ends,
    with ``llm_otel.task.status`` ok/error, when the block exits.
    """
    return Task(type, id=id, team=team, budget_usd=budget_usd, attributes=attributes)


def agent(name: str, *, id: str | None = None) -> Agent:
    """An agent scope: spans inside carry ``gen_ai.agent.name`` (and ``gen_ai.agent.id``)."""
    return Agent(name, id=id)


def prompt(template: str, version: str | None = None) -> Prompt:
    """A prompt scope: LLM spans inside carry ``llm_otel.prompt.template`` / ``.version``."""
    return Prompt(template, version)


# --- running totals and budget (called by provider wrappers via sdk/call.py) --------


_price: Callable[..., Any] | None = None
_price_loaded = False


def _pricer() -> Callable[..., Any] | None:
    """``llm_otel.pricing.price`` if the pricing engine is importable, else ``None`` (cost stays 0)."""
    global _price, _price_loaded
    if not _price_loaded:
        _price_loaded = True
        try:
            from llm_otel.pricing import price

            _price = price
        except Exception:
            log.debug("llm-otel pricing is not available; task cost_usd stays 0", exc_info=True)
            _price = None
    return _price


class _PricedCall:
    """One finished call's usage, priced at most once (lazily) and shared by every enclosing task."""

    __slots__ = ("_cost", "_done", "at", "model", "provider", "usage")

    def __init__(self, provider: str, model: str | None, usage: Usage, at: float) -> None:
        self.provider = provider
        self.model = model
        self.usage = usage
        self.at = at
        self._done = False
        self._cost: float | None = None

    def cost(self) -> float | None:
        """USD, or ``None`` when the call cannot be priced. Never raises.

        Two threads may both price a call the first time (same result); neither sees a
        half-done one, since ``_done`` is set only after ``_cost``.
        """
        if not self._done:
            cost: float | None = None
            price = _pricer()
            if price is not None:
                try:
                    result = price(self.usage, provider=self.provider, model=self.model, at=self.at)
                    if getattr(result, "priced", True):
                        cost = float(result.total)
                except Exception:
                    log.debug("llm-otel could not price a call for the task totals", exc_info=True)
            self._cost = cost
            self._done = True
        return self._cost


_UNSET: Any = object()


def check_budget() -> None:
    """Raises ``BudgetExceeded`` when the current task, or any task enclosing it, has spent its budget,
    or ``QuotaExceeded`` when a hard quota of their team is spent (``sdk/quota.py``; O(1), no I/O).

    Called by provider wrappers before each request. Raises nothing else: a failure to
    work out the spend lets the call go on.
    """
    frame = _frame.get()
    if frame is None:
        return
    if quota.snapshot:  # some team quota is spent (sdk/quota.py); empty, as usual: one dict truth test
        quota.check(frame.task)  # QuotaExceeded (a BudgetExceeded) if a hard one of this task's team
    node = frame.task
    while node is not None:
        if node.budget_usd is not None:
            try:
                spent = node.cost_usd
            except Exception:
                log.debug("llm-otel could not read a task's spend; the call goes on", exc_info=True)
                spent = None
            if spent is not None and spent >= node.budget_usd:
                raise BudgetExceeded(node.id, node.type, spent, node.budget_usd)
        node = node.parent


def on_call_finished(provider: str, model: str | None, usage: Usage, task: Task | None = _UNSET) -> None:
    """Adds one finished call to a task's running totals and every enclosing task's.

    ``task`` is the task current when the call STARTED (``sdk/call.py`` captures it, since a
    stream may finish in another context, e.g. garbage collection); by default the current one.
    Prices the call at once only when some enclosing task has a budget; otherwise pricing
    waits until ``cost_usd`` is read. Never raises into callers (they guard too).
    """
    unchanged.note_call(provider, model, usage)  # a skip_unchanged run being measured, if any
    node = current_task() if task is _UNSET else task
    if node is None:
        return
    call = _PricedCall(provider, model, usage, time.time())
    total = usage.total_tokens
    eager = False
    while node is not None:
        with node._lock:
            node.calls += 1
            node.tokens += total
            node._pending.append(call)
        if node.budget_usd is not None:
            eager = True
        node = node.parent
    if eager:
        call.cost()
