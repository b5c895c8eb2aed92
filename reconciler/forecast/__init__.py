"""``sepm-reconciler forecast``: rehearse the whole rollout on a twin of the real fleet before touching it.

* :mod:`.reading` — each managed server read, read-only (the probe's code path), reduced to numbers: no client names;
* :mod:`.twin` — the twin fleet (a simulator fleet file) made from the readings, strict where nothing was read;
  :mod:`.pki` its certificates, :mod:`.twinspecs` the user's specs pointed at it, :mod:`.prepare` all of it;
* :mod:`.drive` — the reconciler's own ticks on the twin's virtual clock, an operator doing what hooks and people
  would, through the twin's console (:class:`~.drive.Console`, implemented beside the command, which alone imports
  the simulator);
* :mod:`.track` — one run measured (also how a test measures the real daemon); :mod:`.summary` — N runs summarised;
  :mod:`.render` — text, JSON, Markdown.

``plan`` says what comes next from today's numbers (:mod:`reconciler.core.procedure.timeline`); the forecast is its
measured counterpart: it runs the same table on a twin and times what happens.
"""
