"""The real Python APIs that :mod:`.api_updates` renames, and the synonyms its new names take.

Every entry of :data:`APIS` is a real public name of a widely used package (checked against the
installed packages by the tests where they are installed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Api:
    """A real public name, what it does (an infinitive phrase) and a call with ``{}`` for its last name."""

    qualname: str
    kind: str  # function | method | class
    does: str
    code: str

    @property
    def package(self) -> str:
        return self.qualname.split(".")[0]

    @property
    def parent(self) -> str:
        return self.qualname.rsplit(".", 1)[0]

    @property
    def last(self) -> str:
        return self.qualname.rsplit(".", 1)[1]

    @property
    def noun(self) -> str:
        """How questions name it: ``numpy.linalg function``, ``pandas.DataFrame method``, ``torch.nn class``."""
        return f"{self.parent} {self.kind}"


def _a(qualname: str, kind: str, does: str, code: str) -> Api:
    return Api(qualname, {"f": "function", "m": "method", "c": "class"}[kind], does, code)


# (qualified name, f/m/c, what it does, the call with {} for the last name)
# fmt: off
APIS: tuple[Api, ...] = (
    # numpy
    _a("numpy.linalg.norm", "f", "compute the norm of a vector or matrix", "numpy.linalg.{}(x)"),
    _a("numpy.linalg.inv", "f", "invert a square matrix", "numpy.linalg.{}(a)"),
    _a("numpy.linalg.solve", "f", "solve a system of linear equations", "numpy.linalg.{}(a, b)"),
    _a("numpy.linalg.eig", "f", "compute the eigenvalues and eigenvectors of a square matrix", "numpy.linalg.{}(a)"),
    _a("numpy.linalg.svd", "f", "compute the singular value decomposition of a matrix", "numpy.linalg.{}(a)"),
    _a("numpy.linalg.det", "f", "compute the determinant of a matrix", "numpy.linalg.{}(a)"),
    _a("numpy.concatenate", "f", "join arrays along an existing axis", "numpy.{}([a, b], axis=0)"),
    _a("numpy.stack", "f", "join arrays along a new axis", "numpy.{}([a, b])"),
    _a("numpy.linspace", "f", "return evenly spaced numbers over an interval", "numpy.{}(0, 1, num=50)"),
    _a("numpy.argsort", "f", "return the indices that would sort an array", "numpy.{}(a)"),
    _a("numpy.unique", "f", "find the unique elements of an array", "numpy.{}(a)"),
    _a("numpy.cumsum", "f", "compute the cumulative sum of array elements", "numpy.{}(a)"),
    _a("numpy.clip", "f", "limit the values of an array to a range", "numpy.{}(a, 0, 1)"),
    _a("numpy.meshgrid", "f", "build coordinate matrices from coordinate vectors", "numpy.{}(x, y)"),
    _a("numpy.einsum", "f", "evaluate an Einstein summation", "numpy.{}('ij,jk->ik', a, b)"),
    _a("numpy.histogram", "f", "compute the histogram of a data set", "numpy.{}(a, bins=10)"),
    _a("numpy.random.default_rng", "f", "create a random number generator", "numpy.random.{}(seed=0)"),
    _a("numpy.fft.fft", "f", "compute the one-dimensional discrete Fourier transform", "numpy.fft.{}(signal)"),
    _a("numpy.polyfit", "f", "fit a polynomial by least squares", "numpy.{}(x, y, deg=2)"),
    _a("numpy.isclose", "f", "compare arrays element-wise within a tolerance", "numpy.{}(a, b)"),
    _a("numpy.save", "f", "save an array to a .npy file", "numpy.{}('data.npy', a)"),
    _a("numpy.where", "f", "pick elements from two arrays by a condition", "numpy.{}(mask, a, b)"),
    # pandas
    _a("pandas.read_csv", "f", "read a CSV file into a DataFrame", "pandas.{}('data.csv')"),
    _a("pandas.read_parquet", "f", "read a Parquet file into a DataFrame", "pandas.{}('data.parquet')"),
    _a("pandas.concat", "f", "concatenate DataFrames along an axis", "pandas.{}([df1, df2])"),
    _a("pandas.to_datetime", "f", "convert values to datetimes", "pandas.{}(df['date'])"),
    _a("pandas.get_dummies", "f", "convert a categorical column into indicator columns", "pandas.{}(df['colour'])"),
    _a("pandas.cut", "f", "bin values into discrete intervals", "pandas.{}(ages, bins=5)"),
    _a("pandas.DataFrame.merge", "m", "join two DataFrames on key columns", "df.{}(other, on='id')"),
    _a("pandas.DataFrame.groupby", "m", "group the rows of a DataFrame by column values", "df.{}('city')"),
    _a("pandas.DataFrame.pivot_table", "m", "create a spreadsheet-style pivot table", "df.{}(index='a', columns='b')"),
    _a("pandas.DataFrame.drop_duplicates", "m", "remove duplicate rows from a DataFrame", "df.{}()"),
    _a("pandas.DataFrame.fillna", "m", "fill missing values in a DataFrame", "df.{}(0)"),
    _a("pandas.DataFrame.sort_values", "m", "sort the rows of a DataFrame by column values", "df.{}('price')"),
    _a("pandas.DataFrame.to_csv", "m", "write a DataFrame to a CSV file", "df.{}('out.csv')"),
    _a("pandas.DataFrame.melt", "m", "unpivot a DataFrame from wide to long format", "df.{}(id_vars=['id'])"),
    _a("pandas.DataFrame.iterrows", "m", "iterate over the rows of a DataFrame as pairs",
       "for i, row in df.{}(): pass"),
    _a("pandas.DataFrame.rolling", "m", "compute rolling window statistics", "df.{}(window=7).mean()"),
    _a("pandas.Series.value_counts", "m", "count the distinct values of a Series", "s.{}()"),
    # requests
    _a("requests.get", "f", "send an HTTP GET request", "requests.{}(url)"),
    _a("requests.post", "f", "send an HTTP POST request", "requests.{}(url, json=payload)"),
    _a("requests.delete", "f", "send an HTTP DELETE request", "requests.{}(url)"),
    _a("requests.Session", "c", "keep cookies and connections across HTTP requests", "session = requests.{}()"),
    _a("requests.Session.get", "m", "send a GET request through a session", "session.{}(url)"),
    _a("requests.Response.json", "m", "decode the body of an HTTP response as JSON", "data = response.{}()"),
    _a("requests.Response.raise_for_status", "m", "raise an error for a 4xx or 5xx HTTP response", "response.{}()"),
    # matplotlib
    _a("matplotlib.pyplot.subplots", "f", "create a figure and a grid of axes", "fig, ax = matplotlib.pyplot.{}(2, 2)"),
    _a("matplotlib.pyplot.savefig", "f", "save the current figure to a file", "matplotlib.pyplot.{}('plot.png')"),
    _a("matplotlib.pyplot.scatter", "f", "draw a scatter plot", "matplotlib.pyplot.{}(x, y)"),
    _a("matplotlib.pyplot.hist", "f", "draw a histogram", "matplotlib.pyplot.{}(values, bins=20)"),
    _a("matplotlib.pyplot.imshow", "f", "display an image on the axes", "matplotlib.pyplot.{}(image)"),
    _a("matplotlib.pyplot.colorbar", "f", "add a colour bar to a plot", "matplotlib.pyplot.{}()"),
    _a("matplotlib.pyplot.tight_layout", "f", "adjust the padding between subplots automatically",
       "matplotlib.pyplot.{}()"),
    _a("matplotlib.axes.Axes.set_xlabel", "m", "set the label of the x axis", "ax.{}('time')"),
    # torch
    _a("torch.tensor", "f", "build a tensor from data", "torch.{}([1, 2, 3])"),
    _a("torch.zeros", "f", "create a tensor filled with zeros", "torch.{}(3, 4)"),
    _a("torch.cat", "f", "concatenate tensors along a dimension", "torch.{}([a, b], dim=0)"),
    _a("torch.matmul", "f", "multiply two tensors as matrices", "torch.{}(a, b)"),
    _a("torch.no_grad", "c", "turn off gradient tracking inside a block", "with torch.{}(): pass"),
    _a("torch.save", "f", "save a tensor or model state to a file", "torch.{}(model.state_dict(), 'model.pt')"),
    _a("torch.manual_seed", "f", "seed the random number generator", "torch.{}(0)"),
    _a("torch.nn.Linear", "c", "apply a linear transformation to the input", "layer = torch.nn.{}(128, 10)"),
    _a("torch.nn.functional.softmax", "f", "apply the softmax function to a tensor",
       "torch.nn.functional.{}(logits, dim=-1)"),
    _a("torch.optim.Adam", "c", "optimise parameters with the Adam algorithm",
       "opt = torch.optim.{}(model.parameters())"),
    _a("torch.utils.data.DataLoader", "c", "iterate over a dataset in batches",
       "loader = torch.utils.data.{}(ds, batch_size=32)"),
    # scipy
    _a("scipy.optimize.minimize", "f", "minimise a scalar function of several variables", "scipy.optimize.{}(f, x0)"),
    _a("scipy.integrate.quad", "f", "compute a definite integral numerically", "scipy.integrate.{}(f, 0, 1)"),
    _a("scipy.stats.ttest_ind", "f", "run a t-test on two independent samples", "scipy.stats.{}(a, b)"),
    _a("scipy.signal.find_peaks", "f", "find the peaks of a signal", "scipy.signal.{}(signal)"),
    _a("scipy.spatial.distance.cdist", "f", "compute distances between two sets of points",
       "scipy.spatial.distance.{}(xa, xb)"),
    # scikit-learn
    _a("sklearn.model_selection.train_test_split", "f", "split arrays into random train and test sets",
       "sklearn.model_selection.{}(X, y)"),
    _a("sklearn.linear_model.LinearRegression", "c", "fit an ordinary least squares linear model",
       "model = sklearn.linear_model.{}()"),
    _a("sklearn.metrics.accuracy_score", "f", "compute the accuracy of a classifier",
       "sklearn.metrics.{}(y_true, y_pred)"),
    _a("sklearn.preprocessing.StandardScaler", "c", "scale features to zero mean and unit variance",
       "scaler = sklearn.preprocessing.{}()"),
    _a("sklearn.cluster.KMeans", "c", "cluster data with the k-means algorithm",
       "km = sklearn.cluster.{}(n_clusters=3)"),
    _a("sklearn.decomposition.PCA", "c", "reduce dimensions with principal component analysis",
       "pca = sklearn.decomposition.{}(n_components=2)"),
    # standard library
    _a("json.dumps", "f", "serialise an object to a JSON string", "text = json.{}(data)"),
    _a("json.loads", "f", "parse a JSON string", "data = json.{}(text)"),
    _a("os.makedirs", "f", "create a directory and its parents", "os.{}('a/b/c', exist_ok=True)"),
    _a("os.path.join", "f", "join path components", "os.path.{}(root, 'file.txt')"),
    _a("os.listdir", "f", "list the entries of a directory", "os.{}('.')"),
    _a("os.getenv", "f", "read an environment variable", "os.{}('HOME')"),
    _a("shutil.rmtree", "f", "delete a directory tree", "shutil.{}('build')"),
    _a("shutil.copyfile", "f", "copy the contents of a file", "shutil.{}('a.txt', 'b.txt')"),
    _a("re.findall", "f", "find every match of a pattern in a string", "re.{}(r'\\d+', text)"),
    _a("re.sub", "f", "replace the matches of a pattern in a string", "re.{}(r'\\s+', ' ', text)"),
    _a("re.compile", "f", "compile a regular expression", "pattern = re.{}(r'\\w+')"),
    _a("itertools.groupby", "f", "group consecutive items by a key", "itertools.{}(items, key=len)"),
    _a("itertools.product", "f", "compute the Cartesian product of iterables", "itertools.{}('ab', repeat=2)"),
    _a("functools.lru_cache", "f", "cache the results of a function", "@functools.{}(maxsize=128)"),
    _a("functools.partial", "c", "fix some arguments of a function", "inc = functools.{}(add, 1)"),
    _a("collections.Counter", "c", "count hashable items", "counts = collections.{}(words)"),
    _a("collections.defaultdict", "c", "make a dict that creates missing values", "index = collections.{}(list)"),
    _a("collections.namedtuple", "f", "create a tuple subclass with named fields",
       "Point = collections.{}('Point', 'x y')"),
    _a("pathlib.Path.glob", "m", "find the files matching a pattern under a path", "path.{}('*.py')"),
    _a("pathlib.Path.read_text", "m", "read the text of a file", "text = path.{}()"),
    _a("datetime.datetime.strptime", "m", "parse a date string with a format", "datetime.datetime.{}(s, '%Y-%m-%d')"),
    _a("datetime.timedelta", "c", "represent a duration", "week = datetime.{}(days=7)"),
    _a("subprocess.run", "f", "run a command and wait for it to finish", "subprocess.{}(['ls', '-l'])"),
    _a("time.sleep", "f", "pause execution for some seconds", "time.{}(1.5)"),
    _a("random.shuffle", "f", "shuffle a list in place", "random.{}(cards)"),
    _a("math.isclose", "f", "compare two floats within a tolerance", "math.{}(a, b)"),
    _a("logging.getLogger", "f", "get a named logger", "log = logging.{}(__name__)"),
    _a("argparse.ArgumentParser", "c", "parse command-line arguments", "parser = argparse.{}()"),
    _a("csv.DictReader", "c", "read CSV rows as dictionaries", "reader = csv.{}(f)"),
    _a("urllib.parse.urlencode", "f", "encode a mapping as a URL query string", "urllib.parse.{}({'q': 'x'})"),
    _a("hashlib.sha256", "f", "compute a SHA-256 hash", "digest = hashlib.{}(data).hexdigest()"),
    _a("tempfile.mkdtemp", "f", "create a temporary directory", "tmp = tempfile.{}()"),
    _a("textwrap.dedent", "f", "remove common leading whitespace from text", "textwrap.{}(text)"),
    _a("copy.deepcopy", "f", "copy an object and everything it contains", "clone = copy.{}(obj)"),
    _a("zipfile.ZipFile", "c", "read and write ZIP archives", "archive = zipfile.{}('a.zip')"),
    # other widely used packages
    _a("yaml.safe_load", "f", "parse YAML text safely", "config = yaml.{}(text)"),
    _a("click.option", "f", "add an option to a command-line command", "@click.{}('--count', default=1)"),
    _a("jinja2.Template", "c", "compile a template from a string", "t = jinja2.{}('Hello {{ name }}')"),
    _a("sympy.simplify", "f", "simplify a symbolic expression", "sympy.{}(expr)"),
    _a("sympy.solve", "f", "solve equations symbolically", "sympy.{}(x**2 - 4, x)"),
    _a("networkx.shortest_path", "f", "compute shortest paths in a graph", "networkx.{}(g, source=1, target=5)"),
    _a("networkx.Graph", "c", "represent an undirected graph", "g = networkx.{}()"),
    _a("tqdm.tqdm", "c", "show a progress bar around an iterable", "for x in tqdm.{}(items): pass"),
)
# fmt: on

# word -> plausible synonyms (never the name of something else in the same namespace)
# fmt: off
SYNONYMS: dict[str, tuple[str, ...]] = {
    "norm": ("magnitude",), "inv": ("inverse",), "det": ("determinant",), "eig": ("eigen",),
    "svd": ("singular",), "solve": ("resolve",), "concatenate": ("chain_arrays",), "unique": ("distinct",),
    "clip": ("clamp",), "histogram": ("bin_counts",), "save": ("store", "persist"), "read": ("load", "ingest"),
    "merge": ("fuse", "join_on"), "sort": ("order",), "drop": ("remove", "discard"), "duplicates": ("repeats",),
    "fillna": ("fill_missing",), "groupby": ("group_rows",), "melt": ("unpivot",), "iterrows": ("each_row",),
    "rolling": ("windowed",), "cut": ("bucketize",), "dummies": ("indicators",), "counts": ("tally",),
    "get": ("fetch", "retrieve"), "post": ("submit",), "delete": ("remove",), "subplots": ("panels",),
    "savefig": ("export_figure",), "hist": ("histo",), "imshow": ("show_image",), "zeros": ("zeroed",),
    "cat": ("join",), "matmul": ("matprod",), "minimize": ("minimise",), "split": ("partition",),
    "dumps": ("encode",), "loads": ("decode",), "makedirs": ("mkdirs",), "listdir": ("list_entries",),
    "findall": ("find_every",), "sub": ("replace_all",), "compile": ("build",), "run": ("execute",),
    "sleep": ("pause",), "shuffle": ("permute",), "dedent": ("unindent",), "simplify": ("reduce_expr",),
    "linspace": ("evenspace",), "stack": ("pile",), "cumsum": ("running_sum",), "where": ("choose_where",),
    "rmtree": ("remove_tree",), "copyfile": ("clone_file",), "deepcopy": ("deep_clone",),
    "product": ("cartesian",), "strptime": ("parse_time",), "isclose": ("almost_equal",),
    "session": ("client",), "counter": ("tally",), "scaler": ("normalizer",), "graph": ("network",),
    "mkdtemp": ("make_temp_dir",), "urlencode": ("encode_query",),
}
# fmt: on
