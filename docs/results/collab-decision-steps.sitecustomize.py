import os, time, functools, inspect
if os.environ.get("PERF_INST"):
    _f = open(f"{os.environ['PERF_INST']}/t-{os.getpid()}.txt", "a", buffering=1)
    def _wrap(cls, name, label):
        fn = getattr(cls, name)
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def w(*a, **k):
                t = time.perf_counter()
                try: return await fn(*a, **k)
                finally: _f.write(f"{label} {(time.perf_counter()-t)*1000:.3f}\n")
        else:
            @functools.wraps(fn)
            def w(*a, **k):
                t = time.perf_counter()
                try: return fn(*a, **k)
                finally: _f.write(f"{label} {(time.perf_counter()-t)*1000:.3f}\n")
        setattr(cls, name, w)
    import peermind.node.daemon as d
    from peermind.node.collab.policy import Collaborator
    from peermind.node.p2p.streams import StreamEndpoint
    from peermind.node.p2p.tasks import TaskService
    from peermind.node.answer_log import AnswerLog
    from peermind.node.collab.feedback import FeedbackRecorder
    from libp2p.host.basic_host import BasicHost
    import peermind.node.api.app as app
    _wrap(d.Node, "ask", "A.node_ask")
    _wrap(d.Node, "_log_task", "log_task")
    _wrap(Collaborator, "decide", "A.decide")
    _wrap(Collaborator, "attempt", "A.attempt")
    _wrap(StreamEndpoint, "call", "A.call")
    _wrap(BasicHost, "new_stream", "A.new_stream")
    _wrap(TaskService, "_serve", "B.serve")
    _wrap(TaskService, "_handle", "B.handle")
    _wrap(TaskService, "_after_reply", "B.after_reply")
    _wrap(AnswerLog, "record", "A.answers_record")
    _wrap(FeedbackRecorder, "submit", "A.feedback_submit")
    import peermind.node.api.body as body
    _orig = body.json_body
    async def jb(r):
        t = time.perf_counter()
        try: return await _orig(r)
        finally: _f.write(f"A.json_body {(time.perf_counter()-t)*1000:.3f}\n")
    app._json_body = jb
    import peermind.node.p2p.streams as st
    _owf = st.open_with_frame
    async def owf(*a, **k):
        t = time.perf_counter()
        try: return await _owf(*a, **k)
        finally: _f.write(f"A.open_with_frame {(time.perf_counter()-t)*1000:.3f}\n")
    st.open_with_frame = owf
    from starlette.applications import Starlette
    _sc = Starlette.__call__
    async def sc(self, scope, receive, send):
        t = time.perf_counter()
        try: return await _sc(self, scope, receive, send)
        finally:
            if scope.get("type") == "http" and scope.get("path") == "/peermind/ask": _f.write(f"A.http_app {(time.perf_counter()-t)*1000:.3f}\n")
    Starlette.__call__ = sc
    from peermind.node.collab.quality import QualityMemory
    from peermind.node.collab.embedding import QueryEmbedder
    from peermind.node.collab.router_state import RouterHolder
    from peermind.federated import Embedder
    _wrap(QualityMemory, "sync", "D.sync")
    _wrap(QualityMemory, "assess", "D.assess")
    _wrap(QueryEmbedder, "embed", "D.embed")
    _wrap(RouterHolder, "predict", "D.predict")
    _wrap(Embedder, "encode_one", "D.encode_one_thread")
    _wrap(Collaborator, "_assess_quality", "D.assess_quality")
    _wrap(d.Node, "candidates", "D.candidates")
    import peermind.node.collab.policy as pol
    for fname in ("knowledge_match", "estimate", "feasible", "require_quality"):
        if hasattr(pol, fname):
            _fn = getattr(pol, fname)
            def mk(fn, label):
                if inspect.iscoroutinefunction(fn):
                    async def w(*a, **k):
                        t = time.perf_counter()
                        try: return await fn(*a, **k)
                        finally: _f.write(f"{label} {(time.perf_counter()-t)*1000:.3f}\n")
                else:
                    def w(*a, **k):
                        t = time.perf_counter()
                        try: return fn(*a, **k)
                        finally: _f.write(f"{label} {(time.perf_counter()-t)*1000:.3f}\n")
                return w
            setattr(pol, fname, mk(_fn, "D." + fname))
    _wrap(pol.QualityMemory if hasattr(pol, "QualityMemory") else QualityMemory, "has_evidence", "D.has_evidence")
