"""The sandboxed worker: imports and calls one student's code for ``autograder.sandbox.sandbox``.

This file is standalone on purpose: it imports only the standard library and
numpy, never ``autograder``. The parent copies it into a private directory
that is bound read-only into the sandbox and starts it as::

    python -I -S -B sandbox_worker.py --fd-in R --fd-out W --root SUBMISSION
        [--site DIR]... [--uid UID --gid GID] --max-message BYTES --token TOKEN

It speaks a small framed protocol on the two dedicated pipe descriptors
``R`` (requests from the parent) and ``W`` (replies to the parent), never on
stdout or stderr, which belong to student code. A frame is::

    b"SBX1" | uint32 header length | JSON header | raw blobs

where the header's ``"blobs"`` lists the byte length of every blob that
follows, and every blob is one array's raw bytes (C order). Values are JSON
trees: ``None``, booleans and strings are themselves; arrays and numbers are
``{"$": "nd", "i": blob, "d": dtype, "s": shape}`` (this worker sends only
little-endian ``"<f8"`` and ``"<i8"``); tuples,
lists and dicts are ``{"$": "tuple" | "list" | "dict", ...}``; every other
object stays here and travels as an opaque handle ``{"$": "h", "id": n}``;
objects the parent keeps (a reference cache) travel as ``{"$": "ph", "id": n}``.

Nothing here trusts student code, but nothing here is trusted by the parent
either: student code runs in this very process and may tamper with it. The
parent validates every frame and converts every array itself.
"""
import _thread  # not threading: its import is 5 ms of every worker's start
import importlib
import json
import os
import signal
import struct
import sys
import traceback

MAGIC = b"SBX1"
MAX_DEPTH = 32
MAX_TEXT = 2000
MAX_FRAMES = 12


# ----------------------------------------------------------------------------- framing

def _read_exact(fd, n, inbox):
    """The next ``n`` bytes of ``fd``; ``inbox`` (a bytearray) keeps what a read took beyond them."""
    while len(inbox) < n:
        chunk = os.read(fd, min(max(n - len(inbox), 1 << 16), 1 << 20))
        if not chunk:
            raise EOFError("the parent closed the request pipe")
        inbox += chunk
    data = bytes(inbox[:n])
    del inbox[:n]
    return data


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Channel:
    """Both protocol pipes, with the numpy functions captured before student code runs."""

    def __init__(self, fd_in, fd_out, max_message, np):
        self.fd_in = fd_in
        self.fd_out = fd_out
        self.max_message = max_message
        self.np = np
        self.lock = _thread.allocate_lock()
        self.inbox = bytearray()  # read from the request pipe, not yet taken
        self.frombuffer = np.frombuffer
        self.dtype = np.dtype
        self.tobytes = np.ndarray.tobytes
        self.reshape = np.ndarray.reshape
        self.copy = np.ndarray.copy
        self.ndarray = np.ndarray
        self.view = np.ndarray.view
        self.astype = np.ndarray.astype
        self.generic = np.generic
        self.asarray = np.asarray
        self.float64 = np.float64
        self.int64 = np.int64

    def frame(self, header, blobs=()):
        """The bytes of one frame: marker, header length, JSON header, blobs."""
        header = dict(header)
        header["blobs"] = [len(blob) for blob in blobs]
        text = json.dumps(header).encode("utf-8")
        if len(text) + sum(header["blobs"]) > self.max_message:
            raise ReplyTooLarge(len(text) + sum(header["blobs"]), self.max_message)
        return MAGIC + struct.pack(">I", len(text)) + text + b"".join(blobs)

    def send(self, header, blobs=()):
        data = self.frame(header, blobs)
        with self.lock:  # the import watch (another thread) may send too
            _write_all(self.fd_out, data)

    def receive(self):
        inbox = self.inbox
        if _read_exact(self.fd_in, 4, inbox) != MAGIC:
            raise EOFError("bad frame from the parent")
        (length,) = struct.unpack(">I", _read_exact(self.fd_in, 4, inbox))
        header = json.loads(_read_exact(self.fd_in, length, inbox).decode("utf-8"))
        blobs = [_read_exact(self.fd_in, size, inbox) for size in header.get("blobs", [])]
        return header, blobs

    def array_node(self, array, blobs):
        """``{"$": "nd", ...}`` for a C-ordered float64 or int64 array, its bytes appended to ``blobs``."""
        blobs.append(self.tobytes(array))
        return {"$": "nd", "i": len(blobs) - 1, "d": "<f8" if array.dtype.kind == "f" else "<i8",
                "s": [int(n) for n in array.shape]}

    def read_node(self, node, blobs):
        """The array a parent's ``nd`` node describes (a writable copy)."""
        flat = self.frombuffer(blobs[node["i"]], dtype=self.dtype(node["d"]))
        return self.copy(self.reshape(flat, tuple(node["s"])))


# ----------------------------------------------------------------------------- values

class ReferenceCachePart:
    """An object that lives in the parent (a reference cache); student code only passes it on.

    Its name is what student code that looks inside reads in its error ("'ReferenceCachePart'
    object has no attribute 'shape'"); the parent explains it (``sandbox.REFERENCE_CACHE_PART``).
    """

    __slots__ = ("parent_id",)

    def __init__(self, parent_id):
        self.parent_id = parent_id

    def __repr__(self):
        return "<reference object #%d>" % self.parent_id


class Objects:
    """Worker-side objects the parent refers to by handle (models, caches, anything)."""

    def __init__(self):
        self.by_id = {}
        self.next_id = 1

    def register(self, obj):
        handle_id = self.next_id
        self.next_id += 1
        self.by_id[handle_id] = obj
        return handle_id

    def get(self, handle_id):
        if handle_id not in self.by_id:
            raise LookupError("unknown handle %r (the worker was restarted?)" % (handle_id,))
        return self.by_id[handle_id]


def _type_name(obj):
    try:
        return str(type.__getattribute__(type(obj), "__name__"))[:100]
    except Exception:
        return "object"


def encode(value, channel, objects, blobs, register_tuples=False, depth=0):
    """Encode a worker value for the parent; arrays go to ``blobs``, the rest to handles."""
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is ReferenceCachePart:
        return {"$": "ph", "id": value.parent_id}
    if depth < MAX_DEPTH:
        array = None
        if isinstance(value, int):
            array = channel.asarray(int.__int__(value) if -2**63 <= int.__int__(value) < 2**63 else float(int.__int__(value)))
        elif isinstance(value, float):
            array = channel.asarray(float.__float__(value))
        elif isinstance(value, channel.ndarray):
            array = channel.view(value, channel.ndarray)
        elif isinstance(value, channel.generic):
            array = channel.asarray(value)
            array = channel.view(array, channel.ndarray) if isinstance(array, channel.ndarray) else None
        if array is not None and array.dtype.kind in "fiub" and array.dtype.fields is None:
            target = channel.float64 if array.dtype.kind == "f" else channel.int64
            return channel.array_node(channel.astype(array, target, order="C"), blobs)
        if kind is tuple or kind is list:
            items = [encode(item, channel, objects, blobs, register_tuples, depth + 1) for item in value]
            node = {"$": kind.__name__, "v": items}
            if kind is tuple and register_tuples:
                node["h"] = objects.register(value)
            return node
        if kind is dict and all(type(key) in (str, int, bool) or key is None for key in value):
            keys = list(value)
            return {"$": "dict", "k": keys,
                    "v": [encode(value[key], channel, objects, blobs, register_tuples, depth + 1) for key in keys]}
    return {"$": "h", "id": objects.register(value), "type": _type_name(value)}


def reply_bytes(value, channel, depth=0):
    """Bytes the arrays of ``value`` take once encoded (as float64/int64), without encoding anything.

    Walks only what `encode` would send as data (arrays, numbers, tuples, lists, dicts); every
    other object travels as a handle and costs nothing.
    """
    kind = type(value)
    if depth >= MAX_DEPTH or value is None or kind in (bool, str, ReferenceCachePart):
        return 0
    if isinstance(value, channel.ndarray):
        array = channel.view(value, channel.ndarray)
        return 8 * int(array.size) if array.dtype.kind in "fiub" else 0
    if kind is tuple or kind is list:
        return sum(reply_bytes(item, channel, depth + 1) for item in value)
    if kind is dict:
        return sum(reply_bytes(item, channel, depth + 1) for item in value.values())
    return 8 if isinstance(value, (int, float, channel.generic)) else 0


def _size_text(size):
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= scale:
            return "%.1f %s" % (size / scale, unit)
    return "%d bytes" % size


class ReplyTooLarge(Exception):
    """What student code returned cannot be sent back: too large for the protocol or for memory."""

    def __init__(self, size, limit, why=""):
        super().__init__("it is %s%s; outputs are limited to %s" % (_size_text(size), why, _size_text(limit)))


def decode(node, channel, objects, blobs):
    """Decode a value from the parent (trusted, but checked for shape)."""
    if not isinstance(node, dict):
        return node
    tag = node.get("$")
    if tag == "nd":
        return channel.read_node(node, blobs)
    if tag == "tuple":
        return tuple(decode(item, channel, objects, blobs) for item in node["v"])
    if tag == "list":
        return [decode(item, channel, objects, blobs) for item in node["v"]]
    if tag == "dict":
        return {key: decode(item, channel, objects, blobs) for key, item in zip(node["k"], node["v"])}
    if tag == "h":
        return objects.get(node["id"])
    if tag == "ph":
        return ReferenceCachePart(node["id"])
    if tag == "dtype":
        dtype = channel.np.dtype(node["v"])
        return dtype.type if node.get("cls") else dtype
    raise ValueError("unknown value tag %r" % (tag,))


class RefusedImports:
    """A meta-path finder that fails at once the import of the modules the parent refused.

    The parent refuses a module whose import did not finish within its time limit in an earlier
    worker: importing it again (directly, or from another student module) would cost another
    timeout each time. ``reasons`` maps a dotted module name to the ImportError's message.
    """

    def __init__(self):
        self.reasons = {}

    def find_spec(self, fullname, path=None, target=None):
        reason = self.reasons.get(fullname)
        if reason is not None:
            raise ImportError(reason, name=fullname)
        return None


class ImportWatch:
    """Tells the parent, shortly before a module's import runs out of time, which student modules it is in.

    When ``import nnl.cnn`` hangs because ``nnl/conv_layers.py`` (which it imports) loops at its
    top level, the parent learns ``["nnl.cnn", "nnl.conv_layers"]``: the student modules whose
    top-level code is running, outermost first. It can then refuse the innermost in the next
    worker instead of timing out again on every module that imports it. A thread sends the notice
    (``{"op": "importing", "modules": [...]}``) ``delay`` seconds after the import started, only if
    the import is still running, so it always arrives before that request's reply.
    """

    def __init__(self, channel, root, delay):
        self.channel, self.root, self.delay = channel, root, delay
        self.main = _thread.get_ident()
        self.running = _thread.allocate_lock()  # held while the import runs
        self.running.acquire()

    def __enter__(self):
        try:
            _thread.start_new_thread(self.wait, ())
        except RuntimeError:  # no thread left under the process limit: the import runs unwatched
            pass
        return self

    def __exit__(self, *exc_info):
        with self.channel.lock:  # not while a notice is being sent: it then precedes the reply
            self.running.release()

    def wait(self):
        if not self.running.acquire(timeout=self.delay):
            self.report()

    def modules(self):
        """Dotted names of the student modules whose top-level code the main thread is in, outermost first."""
        frame = sys._current_frames().get(self.main)
        names = []
        while frame is not None:
            relative = _student_file(frame.f_code.co_filename, self.root)
            if frame.f_code.co_name == "<module>" and relative is not None and relative.endswith(".py"):
                parts = relative[:-3].split(os.sep)
                names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
            frame = frame.f_back
        return names[::-1][-MAX_FRAMES:]

    def report(self):
        try:
            data = self.channel.frame({"op": "importing", "modules": self.modules()})
            with self.channel.lock:
                if self.running.locked():  # the import has not ended meanwhile
                    _write_all(self.channel.fd_out, data)
        except BaseException:
            pass  # a notice, never a reason for the worker to fail


# ----------------------------------------------------------------------------- errors

class StudentFailure(Exception):
    """Carries a report about student code up to the request loop."""

    def __init__(self, kind, exc):
        super().__init__(kind)
        self.kind = kind
        self.exc = exc


def _safe_text(obj):
    try:
        text = str(obj)
    except BaseException:
        text = "<unprintable>"
    if type(text) is not str:
        text = "<unprintable>"
    return text[:MAX_TEXT]


def _student_file(filename, root):
    """``filename`` relative to the submission folder ``root``, or None for a file outside it."""
    filename = str(filename)
    return filename[len(root) + 1:] if filename.startswith(root + os.sep) else None


def _student_frames(exc, root):
    lines = []
    try:
        for frame in traceback.extract_tb(exc.__traceback__):
            relative = _student_file(frame.filename, root)
            if relative is not None:
                lines.append("%s:%s in %s: %s" % (relative, frame.lineno, frame.name, (frame.line or "").strip()))
    except BaseException:
        pass
    relative = _student_file(exc.filename, root) if isinstance(exc, SyntaxError) and exc.filename else None
    if relative is not None:
        lines.append("%s:%s: %s" % (relative, exc.lineno, _safe_text(exc.text).strip()))
    return [line[:300] for line in lines[-MAX_FRAMES:]]


def error_header(kind, exc, root):
    message = _safe_text(exc)
    if isinstance(exc, SystemExit):
        message = "sys.exit(%s) was called" % _safe_text(exc.code)[:100]
    return {"op": "error", "kind": kind, "type": _type_name(exc), "message": message,
            "traceback": _student_frames(exc, root)}


def bare_instance(cls, /, **attributes):
    """``cls.__new__(cls)`` (no ``__init__``) with each of ``attributes`` set on it, in that order."""
    instance = cls.__new__(cls)
    for name, value in attributes.items():
        setattr(instance, name, value)
    return instance


# ----------------------------------------------------------------------------- the worker

class Worker:
    """The request loop: import, call, make bare instances, call methods, read attributes, substitute dependencies."""

    def __init__(self, channel, root):
        self.channel = channel
        self.root = root
        self.objects = Objects()
        self.refused = RefusedImports()
        self.pid = os.getpid()
        self.stdout = sys.stdout
        self.stderr = sys.stderr

    # -- student code boundary

    def guarded(self, function, *args, **kwargs):
        """Run student code; turn whatever it raises into a StudentFailure."""
        try:
            return function(*args, **kwargs)
        except StudentFailure:
            raise
        except SystemExit as exc:
            raise StudentFailure("crash", exc)
        except MemoryError as exc:
            raise StudentFailure("crash", exc)
        except Exception as exc:
            raise StudentFailure("exception", exc)
        except BaseException as exc:
            raise StudentFailure("crash", exc)
        finally:
            if os.getpid() != self.pid:
                os._exit(0)  # a child forked by student code must never speak the protocol
            self.flush_output()

    def flush_output(self):
        for stream in (self.stdout, self.stderr):
            try:
                stream.flush()
            except BaseException:
                pass

    def load(self, module_name, time_limit=None):
        if module_name in sys.modules:
            return sys.modules[module_name]
        try:
            if time_limit is None:
                return importlib.import_module(module_name)
            with ImportWatch(self.channel, self.root, max(time_limit - 0.5, time_limit * 0.5)):
                return importlib.import_module(module_name)
        except BaseException as exc:
            if os.getpid() != self.pid:
                os._exit(0)
            self.flush_output()
            raise StudentFailure("import", exc)

    # -- substitution

    def substitutes(self, names, module):
        """Replace student functions by proxies to the parent; return what to restore.

        The functions replaced are the ones of that name in the called module and in every module
        of its package (``pkg.layers.batchnorm_forward`` imported into ``pkg.conv_layers``), wherever
        they are bound in those modules; a helper of another name stays the student's.
        """
        restore = []
        if not names:  # most calls: no need to look through every loaded module
            return restore
        name_of = getattr(module, "__name__", "")
        package = name_of.split(".")[0] if type(name_of) is str else ""
        targets = [module] + [m for key, m in list(sys.modules.items())
                              if package and (key == package or key.startswith(package + ".")) and m is not None]
        for name in names:
            originals = []
            for candidate in [getattr(target, name, None) for target in targets]:
                if candidate is not None and callable(candidate):
                    originals.append(candidate)
            proxy = self.make_proxy(name)
            for target in targets:
                namespace = getattr(target, "__dict__", {})
                for attribute, value in list(namespace.items()):
                    if (attribute == name and target is module) or any(value is original for original in originals):
                        restore.append((namespace, attribute, value))
                        namespace[attribute] = proxy
            if name not in getattr(module, "__dict__", {}):
                restore.append((module.__dict__, name, None))
                module.__dict__[name] = proxy
        return restore

    @staticmethod
    def unsubstitute(restore):
        for namespace, attribute, value in reversed(restore):
            if value is None:
                namespace.pop(attribute, None)
            else:
                namespace[attribute] = value

    def make_proxy(self, name):
        worker = self

        def proxy(*args, **kwargs):
            blobs = []
            header = {"op": "callback", "name": name,
                      "args": encode(args, worker.channel, worker.objects, blobs),
                      "kwargs": encode(kwargs, worker.channel, worker.objects, blobs)}
            worker.channel.send(header, blobs)
            reply, reply_blobs = worker.channel.receive()
            if reply.get("op") != "cb_result":
                raise RuntimeError("the reference %s failed on your arguments: %s" % (name, reply.get("message", "")))
            after = decode(reply["args_after"], worker.channel, worker.objects, reply_blobs)
            for original, updated in zip(args, after):
                if type(original) is dict and type(updated) is dict:
                    original.clear()
                    original.update(updated)
                elif type(original) is list and type(updated) is list:
                    original[:] = updated
            return decode(reply["value"], worker.channel, worker.objects, reply_blobs)

        proxy.__name__ = name
        proxy.__qualname__ = name
        return proxy

    # -- requests

    def handle(self, request, blobs):
        op = request.get("op")
        channel, objects = self.channel, self.objects
        args = decode(request.get("args", {"$": "tuple", "v": []}), channel, objects, blobs)
        kwargs = decode(request.get("kwargs", {"$": "dict", "k": [], "v": []}), channel, objects, blobs)
        time_limit = request.get("t")
        time_limit = float(time_limit) if type(time_limit) in (int, float) and time_limit > 0 else None
        if op == "import":
            self.load(request["module"], time_limit)
            return {"op": "result", "value": None}, []
        if op in ("call", "call_many", "bare"):
            module = self.load(request["module"], time_limit)
            function = self.guarded(getattr, module, request["name"])
            if op == "bare":  # the request has no arguments of its own: the class is the only one
                function, args = bare_instance, (function,)
        elif op in ("call_method", "getattr"):
            target = objects.get(request["target"])
            module = sys.modules.get(getattr(type(target), "__module__", ""), None) or sys.modules[__name__]
            if op == "getattr":
                value = self.guarded(getattr, target, request["name"])
                out = []
                return {"op": "result", "value": encode(value, channel, objects, out, True)}, out
            function = self.guarded(getattr, target, request["name"])
        elif op == "release":
            for handle_id in request.get("ids", []):
                objects.by_id.pop(handle_id, None)
            return {"op": "result", "value": None}, []
        elif op == "ping":
            return {"op": "result", "value": None}, []
        elif op == "refuse":
            self.refused.reasons.update({str(name): str(reason) for name, reason in request["modules"].items()})
            if self.refused not in sys.meta_path:
                sys.meta_path.insert(0, self.refused)
            return {"op": "result", "value": None}, []
        else:
            raise ValueError("unknown request %r" % (op,))
        restore = self.substitutes(request.get("substitute", []), module)
        try:
            if op == "call_many":
                batch = decode(request["batch"], channel, objects, blobs)
                results = [self.guarded(function, *item, **kwargs) for item in batch]
                return self.reply(lambda out: {"op": "result", "value": encode(results, channel, objects, out)},
                                  results)
            result = self.guarded(function, *args, **kwargs)

            def header(out):
                reply = {"op": "result", "value": encode(result, channel, objects, out, True)}
                if request.get("mutated"):
                    reply["args_after"] = encode((args, kwargs), channel, objects, out)
                return reply

            return self.reply(header, (result, args, kwargs) if request.get("mutated") else result)
        finally:
            self.unsubstitute(restore)

    def reply(self, make_header, value):
        """``(header, blobs)`` of a result, or a "too_large" failure when it cannot be sent back.

        The size is known before anything is encoded, so an enormous output costs no memory here;
        running out of memory while encoding a smaller one is reported the same way.
        """
        limit = self.channel.max_message
        size = reply_bytes(value, self.channel)
        if size > limit:
            raise StudentFailure("too_large", ReplyTooLarge(size, limit))
        out = []
        try:
            return make_header(out), out
        except MemoryError:
            del out[:]
            raise StudentFailure("too_large", ReplyTooLarge(size, limit, " (the sandbox ran out of memory "
                                                                         "while sending it)"))

    def serve(self):
        while True:
            try:
                request, blobs = self.channel.receive()
            except EOFError:
                return
            try:
                header, out = self.handle(request, blobs)
            except StudentFailure as failure:
                header, out = error_header(failure.kind, failure.exc, self.root), []
            except BaseException as exc:  # our own bug or a tampered worker: report, keep serving
                if os.getpid() != self.pid:
                    os._exit(0)
                header, out = error_header("protocol", exc, self.root), []
                header["message"] = "worker: " + header["message"]
            try:
                self.channel.send(header, out)
            except ReplyTooLarge as exc:  # the header itself is too large (a huge dict of names)
                self.channel.send(error_header("too_large", exc, self.root))


def _parse_args(argv):
    options = {"site": []}
    index = 0
    while index < len(argv):
        key = argv[index].lstrip("-").replace("-", "_")
        value = argv[index + 1]
        if key == "site":
            options["site"].append(value)
        else:
            options[key] = value
        index += 2
    return options


def main(argv):
    options = _parse_args(argv)
    if int(options.get("uid", -1)) >= 0:  # started as root inside the namespaces: drop for good
        os.setgroups([])
        os.setgid(int(options["gid"]))
        os.setuid(int(options["uid"]))
        if os.getuid() == 0 or os.geteuid() == 0:
            raise SystemExit("worker: could not drop root")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized file write is an error, not a kill
    root = os.path.realpath(options["root"])
    os.chdir(root)
    sys.path[:0] = [root]
    sys.path.extend(options["site"])
    sys.dont_write_bytecode = True
    import numpy as np

    channel = Channel(int(options["fd_in"]), int(options["fd_out"]), int(options["max_message"]), np)
    channel.send({"op": "ready", "numpy": np.__version__, "python": sys.version.split()[0],
                  "uid": os.getuid(), "pid": os.getpid()})
    Worker(channel, root).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
