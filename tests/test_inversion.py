"""gfplib.inversion: GAN inversion of the shipped toy prior (the baseline of notebook 05)."""
import pytest
import torch

from gfplib.inversion import InversionConfig, invert
from gfplib.pretrain import load_toy_prior


@pytest.fixture(scope="module")
def prior():
    return load_toy_prior()


@pytest.fixture(scope="module")
def samples(prior):
    """Two faces the prior itself draws (stored noise): an inversion can reach them exactly."""
    z = torch.randn(2, prior.num_style_feat, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return prior([z], randomize_noise=False).image.clamp(-1, 1)


def _psnr(a, b):
    mse = ((a - b) / 2).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_a_prior_sample_is_recovered_closely(prior, samples, space):
    res = invert(prior, samples, InversionConfig(space=space, steps=80, match_size=32))
    assert res.losses[-1] < 0.1 * res.losses[0]
    assert _psnr(res.image, samples).min() > 33  # the mean face starts at about 12 dB
    assert res.latent.shape == (2, prior.num_latent, prior.num_style_feat)
    if space == "w":
        assert torch.equal(res.latent[:, 0], res.latent[:, -1])  # one code shared by every layer


def test_w_plus_fits_a_degraded_face_better_than_w_at_the_matched_resolution(prior, samples):
    noisy = (samples + 0.3 * torch.randn(samples.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    fits = {s: invert(prior, noisy, InversionConfig(space=s, steps=40, match_size=16)).losses[-1] for s in ("w", "w+")}
    assert fits["w+"] < fits["w"]


def test_deterministic_under_a_seed_and_the_prior_is_left_untouched(prior, samples):
    before = [p.detach().clone() for p in prior.parameters()]
    flags = [p.requires_grad for p in prior.parameters()]
    cfg = InversionConfig(steps=15, optimize_noise=True)
    a, b = invert(prior, samples, cfg), invert(prior, samples, cfg)
    assert torch.equal(a.image, b.image) and a.losses == b.losses
    c = invert(prior, samples, InversionConfig(steps=15, optimize_noise=True, seed=1))
    assert not torch.equal(a.image, c.image)
    assert all(torch.equal(x, p) for x, p in zip(before, prior.parameters()))
    assert flags == [p.requires_grad for p in prior.parameters()]


def test_bad_input_is_named(prior, samples):
    with pytest.raises(ValueError, match="32x32"):
        invert(prior, samples[:, :, :16, :16])
    with pytest.raises(ValueError, match="B, 3, S, S"):
        invert(prior, samples[:, 0])
    with pytest.raises(ValueError, match="vgg"):
        invert(prior, samples, InversionConfig(perceptual=1.0))
    with pytest.raises(ValueError, match="space"):
        InversionConfig(space="z")
    with pytest.raises(ValueError, match="match_size"):
        invert(prior, samples, InversionConfig(match_size=64))
