"""gc.nn.fit: batches (the last partial one too), seeded shuffling, lr changes, validation,
the non-finite loss error; save_params / load_params."""

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")


def _mean_of_x():
    """loss = mean(x) + 0 * p: each step's loss is its batch's mean, the params never matter."""
    g = gc.Graph("probe")
    x = g.input("x", ("B",))
    p = g.param("p", 0.0)
    return g, x, gc.mean(x) + 0.0 * p


def _regression(seed=0, n=37):
    g = gc.Graph("reg")
    x = g.input("x", ("B", 2))
    y = g.input("y", ("B", 1))
    model = gc.nn.MLP([2, 8, 1], rng=seed)
    loss = gc.nn.mse_loss(model(x), y)
    rng = np.random.default_rng(42)
    xv = rng.normal(size=(n, 2))
    return g, x, y, model, loss, xv, np.sin(xv[:, :1]) * xv[:, 1:]


def test_batches_include_the_last_partial_one():
    g, x, loss = _mean_of_x()
    xv = np.arange(10.0)
    h = gc.nn.fit(loss, gc.optim.SGD(0.1), {x: xv}, epochs=2, batch_size=4, shuffle=False,
                  progress=False)
    assert h.step_loss == [1.5, 5.5, 8.5] * 2       # batches [0:4], [4:8], [8:10]
    assert h.loss == [4.5, 4.5]                      # weighted by batch size: the mean of x
    h = gc.nn.fit(loss, gc.optim.SGD(0.1), {"x": xv}, epochs=1, batch_size=4, shuffle=False,
                  drop_last=True, progress=False)
    assert h.step_loss == [1.5, 5.5]


def test_shuffling_visits_every_sample_once_per_epoch_and_follows_the_seed():
    g, x, loss = _mean_of_x()
    xv = np.arange(10.0) ** 2

    def run(seed):
        return gc.nn.fit(loss, gc.optim.SGD(0.1), {x: xv}, epochs=3, batch_size=3, seed=seed,
                         progress=False)

    a, b, c = run(7), run(7), run(8)
    assert a.loss == pytest.approx([xv.mean()] * 3)  # each epoch is a permutation
    assert a.step_loss == b.step_loss != c.step_loss
    assert len(set(a.step_loss[:4])) > 1 and a.step_loss[:4] != a.step_loss[4:8]


def test_same_seed_same_result():
    def train():
        g, x, y, model, loss, xv, yv = _regression()
        h = gc.nn.fit(loss, gc.optim.Adam(0.01), {x: xv, y: yv}, epochs=3, batch_size=8,
                      seed=5, progress=False)
        return h, model.values()

    (h1, v1), (h2, v2) = train(), train()
    assert h1.step_loss == h2.step_loss and h1.loss[-1] < h1.step_loss[0]
    assert all(np.array_equal(v1[k], v2[k]) for k in v1)


def test_lr_changes_without_recompiling():
    g = gc.Graph("lr")
    w = g.param("w", np.array([1.0, -2.0]))
    loss = gc.sum(w * w)                      # gradient 2 w
    opt = gc.optim.SGD(0.25)
    step = gc.compile(loss, updates=opt.updates(loss))
    step()
    np.testing.assert_allclose(g.params["w"], [0.5, -1.0])
    opt.lr = 0.0
    step()
    np.testing.assert_allclose(g.params["w"], [0.5, -1.0])
    opt.set_lr(0.5)
    step()
    np.testing.assert_allclose(g.params["w"], [0.0, 0.0])
    assert opt.lr == 0.5 and g.params[opt.lr_tensor.name] == 0.5
    with pytest.raises(ValueError, match="lr must be"):
        opt.lr = -1


def test_fit_schedule_in_on_epoch_end_and_early_stop():
    g, x, y, model, loss, xv, yv = _regression()
    opt = gc.optim.SGD(0.1)
    seen = []

    def schedule(epoch, hist):
        seen.append(epoch)
        opt.lr = opt.lr / 2
        return epoch == 3                    # True stops training

    h = gc.nn.fit(loss, opt, {x: xv, y: yv}, epochs=10, batch_size=16, progress=False,
                  on_epoch_end=schedule)
    assert seen == [1, 2, 3] and h.lr == [0.1, 0.05, 0.025] and len(h.loss) == 3


def test_validation_loss_and_metrics():
    g, x, y, model, loss, xv, yv = _regression()
    mae = gc.mean(gc.abs(model(x) - y))
    h = gc.nn.fit(loss, gc.optim.Adam(0.01), {x: xv[:30], y: yv[:30]}, epochs=2, batch_size=8,
                  val_data={x: xv[30:], y: yv[30:]}, metrics={"mae": mae}, progress=False)
    assert len(h.val_loss) == 2 and len(h.val_metrics["mae"]) == 2
    f = gc.compile([loss, mae])
    assert [h.val_loss[-1], h.val_metrics["mae"][-1]] == pytest.approx(
        [float(v) for v in f(xv[30:], yv[30:])])
    with pytest.raises(ValueError, match="pass val_data"):
        gc.nn.fit(loss, gc.optim.SGD(0.1), {x: xv, y: yv}, metrics={"mae": mae}, progress=False)


def test_non_finite_loss_names_the_step():
    g, x, loss = _mean_of_x()
    xv = np.arange(10.0)
    xv[7] = np.nan                            # batch 2 of epoch 2 with batch_size 4
    xv_ok = xv.copy()
    xv_ok[7] = 0
    with pytest.raises(gc.nn.NonFiniteLossError,
                       match=r"loss became nan at step 2 \(epoch 1/2, batch 2/3") as e:
        gc.nn.fit(loss, gc.optim.SGD(0.1), {x: xv}, epochs=2, batch_size=4, shuffle=False,
                  progress=False)
    assert (e.value.step, e.value.epoch) == (2, 1) and np.isnan(e.value.loss)
    assert "last finite loss was 1.5 at step 1" in str(e.value)
    assert isinstance(e.value, FloatingPointError)


def test_fit_input_errors():
    g, x, y, model, loss, xv, yv = _regression()
    opt = gc.optim.SGD(0.1)
    with pytest.raises(ValueError, match="same number of samples"):
        gc.nn.fit(loss, opt, {x: xv, y: yv[:-1]}, progress=False)
    with pytest.raises(KeyError, match="no input 'z'"):
        gc.nn.fit(loss, opt, {x: xv, "z": yv}, progress=False)
    with pytest.raises(KeyError, match="no array for input"):
        gc.nn.fit(loss, opt, {x: xv}, progress=False)
    with pytest.raises(TypeError, match="scalar loss"):
        gc.nn.fit(model(x), opt, {x: xv}, progress=False)


def test_progress_bar_shows_the_loss(capsys):
    g, x, loss = _mean_of_x()
    gc.nn.fit(loss, gc.optim.SGD(0.1), {x: np.arange(10.0)}, epochs=2, batch_size=4,
              desc="probe run")
    err = capsys.readouterr().err
    assert "probe run" in err and "6/6" in err and "loss 4.5" in err


def test_save_and_load_params_round_trip(tmp_path):
    g, x, y, model, loss, xv, yv = _regression()
    opt = gc.optim.Adam(0.01)
    gc.nn.fit(loss, opt, {x: xv, y: yv}, epochs=2, batch_size=8, progress=False)
    path = tmp_path / "ckpt.npz"
    names = gc.nn.save_params(g, path)
    assert "mlp/0/W" in names and "adam/m/mlp/0/W" in names and "adam/t" in names
    saved = {k: v.copy() for k, v in g.params.items()}
    predict = gc.compile(model(x))
    before = predict(xv)
    for v in g.params.values():
        v[...] = 0
    assert gc.nn.load_params(g, path) == names
    assert all(np.array_equal(g.params[k], saved[k]) for k in saved)
    np.testing.assert_array_equal(predict(xv), before)  # loaded in place: compiled code sees it

    # a module's own params only; shape and name checks
    mpath = tmp_path / "model.npz"
    assert gc.nn.save_params(model, mpath) == list(model.named_parameters())
    with pytest.raises(ValueError, match="params missing from the file"):
        gc.nn.load_params(g, mpath)
    assert gc.nn.load_params(g, mpath, strict=False) == list(model.named_parameters())
    g2, x2, y2, model2, *_ = _regression()
    gc.nn.MLP([2, 3, 1], name="mlp_small")(x2)
    with pytest.raises(ValueError, match="in the file but not in the target"):
        gc.nn.load_params(model2, path)
    np.savez(tmp_path / "bad.npz", **{"mlp/0/W": np.zeros((3, 3))})
    with pytest.raises(ValueError, match=r"'mlp/0/W' has shape \(3, 3\) in the file"):
        gc.nn.load_params(model2, tmp_path / "bad.npz", strict=False)


def test_resume_from_a_checkpoint_equals_training_straight_through(tmp_path):
    def setup():
        g, x, y, model, loss, xv, yv = _regression()
        return g, {x: xv, y: yv}, loss, gc.optim.Adam(0.02)

    g, data, loss, opt = setup()
    straight = gc.nn.fit(loss, opt, data, epochs=2, batch_size=10, shuffle=False,
                         progress=False)
    g1, data1, loss1, opt1 = setup()
    gc.nn.fit(loss1, opt1, data1, epochs=1, batch_size=10, shuffle=False, progress=False)
    gc.nn.save_params(g1, tmp_path / "c.npz")
    g2, data2, loss2, opt2 = setup()
    opt2.updates(loss2)                       # creates the optimiser state to load into
    gc.nn.load_params(g2, tmp_path / "c.npz")
    resumed = gc.nn.fit(loss2, opt2, data2, epochs=1, batch_size=10, shuffle=False,
                        progress=False)
    assert resumed.step_loss == pytest.approx(straight.step_loss[4:], rel=1e-12)
    assert all(np.allclose(g.params[k], g2.params[k], rtol=1e-12) for k in g.params)


# ------------------ non-finite steps, step reuse, argument errors, small datasets, load_params
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_a_non_finite_step_commits_nothing():
    """The params and optimiser state after the error are those from before the bad step."""
    g, x, y, model, loss, xv, yv = _regression()
    xv = xv.copy()
    xv[20] = np.nan                           # batch 3 (samples 16..23) with batch_size 8
    with pytest.raises(gc.nn.NonFiniteLossError, match="step 3 .*not applied") as e:
        gc.nn.fit(loss, gc.optim.Adam(0.01), {x: xv, y: yv}, batch_size=8, shuffle=False,
                  progress=False)
    assert e.value.history.step_loss and len(e.value.history.step_loss) == 2
    # the same two good steps again, from the same start, give the values the error left
    g2, x2, y2, model2, loss2, *_ = _regression()
    gc.nn.fit(loss2, gc.optim.Adam(0.01), {x2: xv[:16], y2: yv[:16]}, batch_size=8,
              shuffle=False, progress=False)
    assert all(np.isfinite(v).all() for v in g.params.values())
    for k in g.params:
        np.testing.assert_array_equal(g.params[k], g2.params[k], err_msg=k)


def test_fit_reuses_its_compiled_step():
    g, x, y, model, loss, xv, yv = _regression()
    opt = gc.optim.SGD(0.1, momentum=0.5)
    data = {x: xv, y: yv}
    gc.nn.fit(loss, opt, data, progress=False, val_data=data)
    n = len(g.nodes)
    h = gc.nn.fit(loss, opt, data, progress=False, val_data=data)
    assert len(g.nodes) == n and h.steps == 2          # no second copy of the update graph
    opt.momentum = 0.0                                 # a new hyperparameter: a new step
    gc.nn.fit(loss, opt, data, progress=False)
    assert len(g.nodes) > n


def test_bad_fit_arguments_raise_before_anything_changes():
    g, x, y, model, loss, xv, yv = _regression()
    opt = gc.optim.Adam(0.1)
    before = {k: v.copy() for k, v in g.params.items()}
    mae = gc.mean(gc.abs(model(x) - y))
    bad = [
        (dict(data={x: xv}), KeyError, "data has no array for input.*'y'"),
        (dict(data={x: xv, "x": xv, y: yv}), ValueError, "'x' is given twice"),
        (dict(val_data={x: xv}), KeyError, "val_data has no array for input.*'y'"),
        (dict(val_data={x: xv, y: yv}, metrics={"pred": model(x)}), gc.ShapeError,
         r"metrics\['pred'\] must be a scalar"),
        (dict(val_data={x: xv, y: yv}, metrics={"mae": 0.5}), TypeError,
         r"metrics\['mae'\] must be a graphc Tensor"),
        (dict(epochs=1.5), TypeError, "epochs must be an int"),
        (dict(batch_size=True), TypeError, "batch_size must be an int"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
        (dict(params=[g.param_tensors["mlp/0/W"]] * 2), ValueError, "twice"),
        (dict(optimizer="adam"), TypeError, "gc.optim optimiser"),
    ]
    for kwargs, exc, msg in bad:
        args = {"data": {x: xv, y: yv}, "optimizer": opt, "progress": False, **kwargs}
        with pytest.raises(exc, match=msg):
            gc.nn.fit(loss, **args)
    assert opt.graph is None and list(g.params) == list(before)
    assert all(np.array_equal(g.params[k], before[k]) for k in before)
    assert gc.nn.fit(loss, opt, {x: xv, y: yv}, val_data={x: xv, y: yv},
                     metrics={"mae": mae}, progress=False).val_metrics["mae"]


def test_small_datasets_batch_size_one_and_numpy_true_stops():
    g, x, loss = _mean_of_x()
    h = gc.nn.fit(loss, gc.optim.SGD(0.1), {x: np.arange(3.0)}, batch_size=32, epochs=2,
                  progress=False)
    assert h.step_loss == [1.0, 1.0]                  # one partial batch per epoch
    h = gc.nn.fit(loss, gc.optim.SGD(0.1), {"x": np.arange(3.0)}, batch_size=1, shuffle=False,
                  epochs=3, progress=False, on_epoch_end=lambda e, h: np.bool_(e == 2))
    assert h.step_loss == [0.0, 1.0, 2.0] * 2


def test_load_params_is_all_or_nothing_and_finds_the_npz_suffix(tmp_path):
    g, x, y, model, loss, xv, yv = _regression()
    before = {k: v.copy() for k, v in g.params.items()}
    good = {k: v + 1 for k, v in before.items()}
    np.savez(tmp_path / "half.npz", **{**good, "mlp/1/b": np.zeros(3)})   # the last is bad
    with pytest.raises(ValueError, match=r"'mlp/1/b' has shape \(3,\) in the file"):
        gc.nn.load_params(g, tmp_path / "half.npz")
    assert all(np.array_equal(g.params[k], before[k]) for k in before)
    # numpy adds .npz to a path without it; loading the same path finds the file
    gc.nn.save_params(g, tmp_path / "ckpt")
    assert gc.nn.load_params(g, tmp_path / "ckpt") == list(before)
    with pytest.raises(FileNotFoundError):
        gc.nn.load_params(g, tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not an .npz file"):
        gc.nn.load_params(g, tmp_path / "junk.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(ValueError, match="one array, not an .npz"):
        gc.nn.load_params(g, tmp_path / "one.npy")
    np.savez(tmp_path / "str.npz", **{**before, "mlp/0/b": np.array(["a"] * 8)})
    with pytest.raises(TypeError, match="'mlp/0/b' is <U1 in the file"):
        gc.nn.load_params(g, tmp_path / "str.npz")


@pytest.mark.parametrize("bad", [
    {"val_data": "features"},  # the wrong feature size
    {"val_data": "complex"},
    {"on_epoch_end": "not callable"},
    {"data": "features"},
])
def test_every_argument_is_checked_before_the_first_step(bad):
    """val_data with the wrong feature size or a complex dtype, and a non-callable
    on_epoch_end, were found only after an epoch had trained."""
    g = gc.Graph("f")
    x = g.input("x", ("B", 3))
    y = g.input("y", ("B", 1))
    model = gc.nn.Linear(3, 1, rng=0)
    loss = gc.nn.mse_loss(model(x), y)
    rng = np.random.default_rng(0)
    data = {x: rng.standard_normal((8, 3)), y: rng.standard_normal((8, 1))}
    kwargs = {}
    wrong = {"features": {x: np.ones((4, 5)), y: np.ones((4, 1))},
             "complex": {x: np.ones((4, 3)) + 1j, y: np.ones((4, 1))}}
    if "val_data" in bad:
        kwargs["val_data"] = wrong[bad["val_data"]]
    if "data" in bad:
        data = wrong[bad["data"]]
    if "on_epoch_end" in bad:
        kwargs["on_epoch_end"] = 3
    before = {k: v.copy() for k, v in g.params.items()}
    with pytest.raises((TypeError, ValueError)):
        gc.nn.fit(loss, gc.optim.SGD(0.1), data, epochs=1, progress=False, **kwargs)
    assert {k: v.copy() for k, v in g.params.items()}.keys() >= before.keys()
    for k, v in before.items():
        np.testing.assert_array_equal(g.params[k], v)
