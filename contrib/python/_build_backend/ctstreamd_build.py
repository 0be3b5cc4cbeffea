"""PEP 517 build backend of the ctstreamd client: setuptools, found offline.

Every hook is setuptools.build_meta's.  What this adds is finding
setuptools (and wheel, which setuptools before 70.1 needs to build a
wheel) when pip's build isolation has hidden them: the isolated
environment drops the interpreter's site-packages from sys.path, and
filling it from a package index needs a network.  So the copies the
interpreter has (in its own site-packages directories, including the
system's for a virtual environment made with --system-site-packages, or
the wheels Debian ships in /usr/share/python-wheels for venv) are put
back at the end of sys.path, and the get_requires hooks ask pip only for
what still cannot be found.  A setuptools older than 61 (which cannot
read pyproject.toml) does not count.
"""

import glob
import importlib
import importlib.util
import os
import re
import site
import sys
import sysconfig

_SEARCHED = {}


def _candidate_dirs():
    """This interpreter's own site-packages directories (in a virtual
    environment with system site packages, the system's too)."""
    dirs = []
    try:
        dirs.extend(site.getsitepackages())
    except AttributeError:
        pass
    paths = sysconfig.get_paths()
    dirs.extend((paths.get("purelib"), paths.get("platlib")))
    if sys.base_prefix == "/usr":
        # Debian's python3 packages, for an interpreter of Debian's own.
        dirs.append("/usr/lib/python3/dist-packages")
    seen, out = set(), []
    for d in dirs:
        if d and d not in seen and os.path.isdir(d):
            seen.add(d)
            out.append(d)
    return out


def _wheels(name):
    pats = []
    for prefix in (sys.prefix, sys.base_prefix, "/usr"):
        pats.append(os.path.join(prefix, "share", "python-wheels",
                                 name + "-*.whl"))
    found = []
    for p in pats:
        found.extend(sorted(glob.glob(p), reverse=True))
    return found


_MIN = {"setuptools": (61,), "wheel": (0,)}


def _vtuple(v):
    return tuple(int(x) for x in re.findall(r"\d+", v or "")[:3])


def _version_in(path, name):
    """The version of name's distribution found in path (a directory or
    a wheel), or None."""
    try:
        from importlib import metadata
    except ImportError:
        return None
    for dist in metadata.distributions(path=[path]):
        if (dist.metadata.get("Name") or "").lower().replace("-", "_") == name:
            return dist.version
    return None


def _installed_version(name):
    try:
        from importlib import metadata
        return metadata.version(name)
    except Exception:
        return None


def _locate(name):
    """Make the top-level package name importable, in a version the build
    can use, if a copy exists; return whether it is."""
    if name in _SEARCHED:
        return _SEARCHED[name]
    need = _MIN.get(name, (0,))
    ok = False
    if importlib.util.find_spec(name) is not None:
        v = _installed_version(name)
        ok = v is None or _vtuple(v) >= need
    else:
        cands = [d for d in _candidate_dirs()
                 if os.path.isfile(os.path.join(d, name, "__init__.py"))]
        for c in cands + _wheels(name):
            v = _version_in(c, name)
            if v is not None and _vtuple(v) < need:
                continue
            sys.path.append(c)
            importlib.invalidate_caches()
            if importlib.util.find_spec(name) is not None:
                ok = True
                break
            sys.path.remove(c)
    _SEARCHED[name] = ok
    return ok


def _backend():
    if not _locate("setuptools"):
        raise ImportError("setuptools >= 61 is needed to build the ctstreamd "
                          "client and was not found (found: %s)"
                          % (_installed_version("setuptools") or "none"))
    _locate("wheel")
    return importlib.import_module("setuptools.build_meta")


def _missing(reqs):
    out = []
    for r in reqs:
        m = re.match(r"\s*([A-Za-z0-9_.\-]+)", r)
        name = m.group(1).lower().replace("-", "_") if m else ""
        if not name or not _locate(name):
            out.append(r)
    return out


def get_requires_for_build_wheel(config_settings=None):
    if not _locate("setuptools"):
        return ["setuptools>=61", "wheel"]
    return _missing(_backend().get_requires_for_build_wheel(config_settings))


def get_requires_for_build_sdist(config_settings=None):
    if not _locate("setuptools"):
        return ["setuptools>=61"]
    return _missing(_backend().get_requires_for_build_sdist(config_settings))


def get_requires_for_build_editable(config_settings=None):
    if not _locate("setuptools"):
        return ["setuptools>=64", "wheel"]
    return _missing(_backend().get_requires_for_build_editable(config_settings))


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _backend().prepare_metadata_for_build_wheel(metadata_directory,
                                                       config_settings)


def prepare_metadata_for_build_editable(metadata_directory,
                                        config_settings=None):
    return _backend().prepare_metadata_for_build_editable(metadata_directory,
                                                          config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _backend().build_wheel(wheel_directory, config_settings,
                                  metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    return _backend().build_sdist(sdist_directory, config_settings)


def build_editable(wheel_directory, config_settings=None,
                   metadata_directory=None):
    return _backend().build_editable(wheel_directory, config_settings,
                                     metadata_directory)
