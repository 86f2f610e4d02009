"""File operations on whatever file system a path names (local, HDFS, S3...), through Hadoop's API.

Spark already speaks to those file systems; going through its Hadoop client keeps the job's
listing, renames and small files on the same storage as its Parquet, on a laptop or a cluster.
"""

from dataclasses import dataclass

from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    is_dir: bool
    size: int
    modified_ms: int = 0


class Storage:
    def __init__(self, spark: SparkSession):
        jvm = spark.sparkContext._jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self._IOUtils = jvm.org.apache.commons.io.IOUtils
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: str):
        p = self._Path(path)
        return p, p.getFileSystem(self._conf)

    def qualified(self, path: str) -> str:
        """The path as its file system names it in full (scheme, host, absolute): two names of
        one place compare equal."""
        p, fs = self._fs(path)
        return str(fs.makeQualified(p).toString()).rstrip("/")

    def exists(self, path: str) -> bool:
        p, fs = self._fs(path)
        return bool(fs.exists(p))

    def is_dir(self, path: str) -> bool:
        p, fs = self._fs(path)
        return bool(fs.exists(p)) and bool(fs.getFileStatus(p).isDirectory())

    def list(self, path: str) -> list[Entry]:
        """The entries directly inside `path`, sorted by name; empty when it does not exist."""
        p, fs = self._fs(path)
        if not fs.exists(p):
            return []
        entries = [
            Entry(
                s.getPath().getName(),
                s.getPath().toString(),
                bool(s.isDirectory()),
                int(s.getLen()),
                int(s.getModificationTime()),
            )
            for s in fs.listStatus(p)
        ]
        return sorted(entries, key=lambda e: e.name)

    def mkdirs(self, path: str) -> None:
        p, fs = self._fs(path)
        fs.mkdirs(p)

    def touch(self, path: str) -> None:
        p, fs = self._fs(path)
        fs.create(p, True).close()

    def delete(self, path: str) -> None:
        p, fs = self._fs(path)
        if fs.exists(p):
            fs.delete(p, True)

    def rename(self, source: str, target: str) -> None:
        """Moves a file or folder; the target's parent is created. Fails if the target exists."""
        src, fs = self._fs(source)
        dst = self._Path(target)
        if fs.exists(dst):
            raise FileExistsError(target)
        fs.mkdirs(dst.getParent())
        if not fs.rename(src, dst):
            raise OSError(f"could not move {source} to {target}")

    def create_new(self, path: str, text: str) -> bool:
        """Creates a small file only if it does not exist yet; False when it already did."""
        p, fs = self._fs(path)
        fs.mkdirs(p.getParent())
        try:
            out = fs.create(p, False)
        except Exception as e:  # noqa: BLE001 - py4j wraps Java's FileAlreadyExistsException
            if "AlreadyExists" in str(e) or fs.exists(p):
                return False
            raise
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        return True

    def write_text(self, path: str, text: str) -> None:
        """Writes a small file whole: to a temporary name first, then renamed over the target."""
        p, fs = self._fs(path)
        tmp = self._Path(path + ".tmp")
        out = fs.create(tmp, True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        if fs.exists(p):
            fs.delete(p, False)
        if not fs.rename(tmp, p):
            raise OSError(f"could not write {path}")

    def read_text(self, path: str) -> str | None:
        p, fs = self._fs(path)
        if not fs.exists(p):
            return None
        stream = fs.open(p)
        try:
            return str(self._IOUtils.toString(stream, "UTF-8"))
        finally:
            stream.close()
