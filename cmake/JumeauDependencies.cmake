# Every dependency comes from Debian 12 packages (cmake/setup-deps.sh installs them).

find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)

# DCMTK: DICOM parsing, decoding and writing.
find_package(DCMTK REQUIRED NO_MODULE)

# ITK: image IO (NRRD/NIfTI/MHA), label editing filters (segmentation), resampling and registration (v4
# framework), transform files (.tfm). Only the modules we use.
find_package(ITK 5.2 REQUIRED COMPONENTS
  ITKCommon ITKIOImageBase ITKIONRRD ITKIONIFTI ITKIOMeta ITKIOGDCM
  ITKThresholding ITKRegionGrowing ITKConnectedComponents ITKBinaryMathematicalMorphology
  ITKMathematicalMorphology ITKLabelMap ITKDistanceMap ITKImageGrid ITKImageFilterBase ITKImageIntensity
  ITKImageLabel ITKImageStatistics ITKSmoothing ITKImageFunction ITKSpatialObjects ITKStatistics
  ITKTransform ITKTransformFactory ITKIOTransformBase ITKIOTransformInsightLegacy
  ITKRegistrationMethodsv4 ITKMetricsv4 ITKOptimizersv4 ITKRegistrationCommon ITKDisplacementField)

# CGAL: meshing, repair and booleans (geometry module).
find_package(CGAL 5.5 REQUIRED)

# VTK: Debian's VTK exports VTK::mpi naming MPI::MPI_C, so MPI's C component must be found first.
find_package(MPI REQUIRED COMPONENTS C)
# Never VTK::GUISupportQt: Debian builds it against Qt 5. We embed VTK in Qt 6 by hand (app/viz).
find_package(VTK 9.1 REQUIRED COMPONENTS
  CommonCore CommonDataModel CommonExecutionModel CommonTransforms
  FiltersCore FiltersGeneral FiltersSources ImagingCore IOImage
  RenderingCore RenderingOpenGL2 RenderingFreeType RenderingAnnotation InteractionStyle)

find_package(Qt6 6.4 REQUIRED COMPONENTS Core Gui Widgets)

find_package(GTest REQUIRED)
