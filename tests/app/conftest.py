"""The window fixture shared by the GUI tests."""
import pytest


@pytest.fixture
def make_window(qtbot, tmp_path):
    """``make(factory=fake_stages, **overrides)``: a shown 1200×800 MainWindow with ``factory`` building its
    stages (None = the real ``build_stages``) and config ``overrides`` (``{"pose.backend": "none"}``);
    every window made is shut down after the test."""
    from app.main_window import MainWindow
    from engine.config import load_config
    from tests.app.test_app import fake_stages

    windows = []

    def make(factory=fake_stages, **overrides):
        config = load_config(overrides=[f"{k}={v}" for k, v in overrides.items()])
        window = MainWindow(config, stages_factory=factory, run_root=tmp_path / "runs")
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.shutdown(timeout=2.0)
