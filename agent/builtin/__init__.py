"""The builtin scientist: a no-LLM brain that runs real experiments, behind LangChain's chat-model
interface (``BuiltinScientist``; ``--agent builtin``).

Modules, bottom up (each imports only those above it in this list):

* ``protocol``         the policy protocol (Task, Options, Call, Outcome, Step, Final, Policy, PolicyRun)
                       and the helpers every policy shares (hypothesis steps, fmt, quoted, auc, …);
* ``words``            the English vocabulary (wordfreq), stopwords and category nouns, folding of
                       inflected forms (entities and the model-unit word survey);
* ``numeric_fit``      the ``Fit`` record every numeric fit returns;
* ``numeric_families`` fits of FIND's harder families (high-degree polynomials, rationals with poles);
* ``numeric_fits``     least-squares fits of the FIND numeric families, chosen by BIC;
* ``numeric_spikes``   single-point spikes: a value taken at one input only, or a pole;
* ``numeric``          the numeric-function policy (grid, repeats, noise intervals, the chosen fit);
* ``string_programs``  the string-program DSL and its search, designed probes, disagreement inputs;
* ``string_steps``     synthesis: fixed string steps (reorderings, word operations, case edits);
* ``string_maps``      synthesis: steps inferred from the data (substitution tables, shifts, position edits);
* ``string_templates`` synthesis: number templates (counts as digits, words, binary);
* ``string_synthesis`` the synthesis search: single steps, per-word, depth 2, conditionals;
* ``strings``          the string-function policy (probes, program search, disambiguation rounds);
* ``entities``         the entity-neuron policy (vocabulary survey, category name, confirmation);
* ``unit_hypotheses``  reading exemplars, proposing hypotheses about a model unit, designing their tests;
* ``units``            the model-unit policy (exemplars, survey, tests, logits, ablation, explanation);
* ``chat_requests``    what a researcher asks in a chat, parsed (plain English or the command form);
* ``chat_turns``       chat turns as replayed generators; why, revise (a new explanation version), help;
* ``unit_chat``        chat experiments about a unit (does it fire on X, try, compare, word or context, …);
* ``function_chat``    chat experiments about a function (f(3)?, a list of inputs, a grid near a point);
* ``driver``           reading the conversation, replaying the policy, answering (notes, chat turns);
* ``chat_model``       ``BuiltinScientist``, the LangChain ``BaseChatModel``.

Tables (words, probe and test texts) are package data in ``data/``, read through ``store.datafiles``.
"""

from __future__ import annotations

from agent.builtin.chat_model import BuiltinScientist

__all__ = ["BuiltinScientist"]
