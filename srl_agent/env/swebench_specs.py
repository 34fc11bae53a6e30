"""The test commands of swebench 4.1.0's `MAP_REPO_VERSION_TO_SPECS` for the Python repositories (generated data).

swebench 5.x no longer generates eval scripts from classic instances (its `make_test_spec` expects a prebuilt
`eval_script`), and 4.1.0 cannot be installed next to the 5.x grading code. The eval script needs only three fields of
each spec (`test_cmd`, `eval_commands`, `install`); they are copied here, versions with identical fields grouped.
Regenerate (in a throw-away venv with `pip install swebench==4.1.0`): `python gen_specs.py > swebench_specs.py`,
the script being the loop in docs/evaluation.md ("Eval scripts offline").
"""

NON_TEST_EXTS = ('.json', '.png', 'csv', '.txt', '.md', '.jpg', '.jpeg', '.pkl', '.yml', '.yaml', '.toml')

# repo -> ((versions, spec fields), ...)
SPECS: dict[str, tuple[tuple[tuple[str, ...], dict], ...]] = {
    'astropy/astropy': (
        (('3.0', '3.1', '3.2', '4.1', '4.2', '4.3', '5.0', '5.1', '5.2', 'v5.3'), {'install': 'python -m pip install -e .[test] --verbose', 'test_cmd': 'pytest -rA'}),
        (('0.1', '0.2', '0.3', '0.4', '1.1', '1.2', '1.3'), {'install': 'python -m pip install -e .[test] --verbose', 'test_cmd': 'pytest -rA -vv -o console_output_style=classic --tb=no'}),
    ),
    'dbt-labs/dbt-core': (
        (('0.13', '0.14', '0.15', '0.16', '0.17', '0.18', '0.19', '0.20', '0.21', '1.0', '1.1', '1.2', '1.3', '1.4', '1.5', '1.6', '1.7'), {'install': 'python -m pip install -e .'}),
    ),
    'django/django': (
        (('1.7', '1.8', '1.10', '1.11', '2.0', '2.1', '2.2'), {'eval_commands': ['export LANG=en_US.UTF-8', 'export LC_ALL=en_US.UTF-8', 'export PYTHONIOENCODING=utf8', 'export LANGUAGE=en_US:en'], 'install': 'python setup.py install', 'test_cmd': './tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1'}),
        (('1.9',), {'eval_commands': ['export LANG=en_US.UTF-8', 'export LC_ALL=en_US.UTF-8', 'export PYTHONIOENCODING=utf8', 'export LANGUAGE=en_US:en'], 'install': 'python setup.py install', 'test_cmd': './tests/runtests.py --verbosity 2'}),
        (('1.4', '1.5', '1.6'), {'install': 'python setup.py install', 'test_cmd': './tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1'}),
        (('3.0', '3.1', '3.2'), {'eval_commands': ["sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen && locale-gen", 'export LANG=en_US.UTF-8', 'export LANGUAGE=en_US:en', 'export LC_ALL=en_US.UTF-8'], 'install': 'python -m pip install -e .', 'test_cmd': './tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1'}),
        (('4.0', '4.1', '4.2', '5.0', '5.1', '5.2'), {'install': 'python -m pip install -e .', 'test_cmd': './tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1'}),
    ),
    'matplotlib/matplotlib': (
        (('3.5', '3.6', '3.7', '3.1', '3.2', '3.3', '3.4', '3.0'), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest -rA'}),
        (('3.8', '3.9'), {'install': 'python -m pip install --no-build-isolation -e ".[dev]"', 'test_cmd': 'pytest -rA'}),
        (('2.0', '2.1', '2.2', '1.0', '1.1', '1.2', '1.3', '1.4', '1.5'), {'install': 'python setup.py build; python setup.py install', 'test_cmd': 'pytest -rA'}),
    ),
    'marshmallow-code/marshmallow': (
        (('2.18', '2.19', '2.20', '3.0', '3.1', '3.10', '3.11', '3.12', '3.13', '3.15', '3.16', '3.19', '3.2', '3.4', '3.8', '3.9'), {'install': "python -m pip install -e '.[dev]'", 'test_cmd': 'pytest -rA'}),
    ),
    'mwaskom/seaborn': (
        (('0.11',), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest --no-header -rA'}),
        (('0.12', '0.13', '0.14'), {'install': 'python -m pip install -e .[dev]', 'test_cmd': 'pytest --no-header -rA'}),
    ),
    'pallets/flask': (
        (('2.0', '2.1', '2.2', '2.3', '3.0', '3.1'), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest -rA'}),
    ),
    'psf/requests': (
        (('0.7', '0.8', '0.9', '0.11', '0.13', '0.14', '1.1', '1.2', '2.0', '2.2', '2.3', '2.4', '2.5', '2.7', '2.8', '2.9', '2.10', '2.11', '2.12', '2.17', '2.18', '2.19', '2.22', '2.26', '2.25', '2.27', '2.31', '3.0'), {'install': 'python -m pip install .', 'test_cmd': 'pytest -rA'}),
    ),
    'pvlib/pvlib-python': (
        (('0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7', '0.8', '0.9'), {'install': 'python -m pip install -e .[all]', 'test_cmd': 'pytest -rA'}),
    ),
    'pydata/xarray': (
        (('0.12', '0.18', '0.19', '0.20', '2022.03', '2022.06', '2022.09', '2023.07', '2024.05'), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest -rA'}),
    ),
    'pydicom/pydicom': (
        (('1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1', '2.2', '2.3', '2.4', '3.0'), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest -rA'}),
    ),
    'pylint-dev/astroid': (
        (('2.10', '2.12', '2.13', '2.14', '2.15', '2.16', '2.5', '2.6', '2.7', '2.8', '2.9', '3.0'), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest -rA'}),
    ),
    'pylint-dev/pylint': (
        (('2.10', '2.11', '2.13', '2.14', '2.15', '2.16', '2.17', '2.8', '2.9', '3.0', '3.1', '3.2', '3.3', '4.0'), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest -rA'}),
    ),
    'pytest-dev/pytest': (
        (('4.4', '4.5', '4.6', '5.0', '5.1', '5.2', '5.3', '5.4', '6.0', '6.2', '6.3', '7.0', '7.1', '7.2', '7.4', '8.0', '8.1', '8.2', '8.3', '8.4'), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest -rA'}),
    ),
    'pyvista/pyvista': (
        (('0.20', '0.21', '0.22', '0.23', '0.24', '0.25', '0.26', '0.27', '0.28', '0.29', '0.30', '0.31', '0.32', '0.33', '0.34', '0.35', '0.36', '0.37', '0.38', '0.39', '0.40', '0.41', '0.42', '0.43'), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest -rA'}),
    ),
    'scikit-learn/scikit-learn': (
        (('0.20', '0.21', '0.22', '1.3', '1.4', '1.5', '1.6'), {'install': 'python -m pip install -v --no-use-pep517 --no-build-isolation -e .', 'test_cmd': 'pytest -rA'}),
    ),
    'sphinx-doc/sphinx': (
        (('1.5', '1.6', '1.7', '1.8', '2.0', '2.1', '2.2', '2.3', '2.4', '3.0', '3.1', '3.2', '3.3', '3.4', '3.5', '4.0', '4.1', '4.2', '4.3', '4.4', '4.5', '5.0', '5.1', '5.2', '5.3', '6.0', '6.2', '7.0', '7.1', '7.2', '7.3', '7.4', '8.0', '8.1'), {'install': 'python -m pip install -e .[test]', 'test_cmd': 'tox --current-env -epy39 -v --'}),
    ),
    'sqlfluff/sqlfluff': (
        (('0.10', '0.11', '0.12', '0.13', '0.4', '0.5', '0.6', '0.8', '0.9', '1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1', '2.2'), {'install': 'python -m pip install -e .', 'test_cmd': 'pytest -rA'}),
    ),
    'swe-bench/humaneval': (
        (('1.0',), {'test_cmd': 'python'}),
    ),
    'sympy/sympy': (
        (('0.7', '1.0', '1.1', '1.10', '1.11', '1.12', '1.2', '1.4', '1.5', '1.6', '1.7', '1.8', '1.9', '1.13', '1.14'), {'install': 'python -m pip install -e .', 'test_cmd': "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose"}),
    ),
}

